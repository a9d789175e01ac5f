"""Backups of the service's database, and restores of them (``towns backup``, ``towns restore``).

A backup is everything the service keeps in its database at one instant: the events and
snapshots, inbox markers, parked and dead-lettered messages (all records of the event store), the
read models with their tracking positions and set-aside events, the tree heads it signed, the
deadline schedule and the workers' failures. On PostgreSQL it is ``pg_dump --format=custom`` of
the URL's database (of its schema, with ``?schema=``) taken in one snapshot
(``adapters.ops.pg_backup``); on SQLite, a copy made with SQLite's online backup API. The point of
a backup (``Point``) is read in the same snapshot as the copy: how many records the log holds,
its last notification id, the messages applied and each read model's position.

A restore puts a backup into an empty place: an empty PostgreSQL database (or schema), a SQLite
file that does not exist yet. It never overwrites a SQLite file, and on PostgreSQL refuses a
target that holds any of the backup's tables unless told to replace them.

``on_progress(step, done, total)``, where given, is told how far the long steps are, in bytes:
pg_dump's and pg_restore's (``adapters.ops.pg_backup``), the copy of a SQLite restore.
"""

from __future__ import annotations

import os
import sqlite3
import time
from pathlib import Path

from adapters.ops.backup_records import BackupError, Outcome, Point
from adapters.ops.pg_backup import Progress, dump, restore as pg_restore
from adapters.store.settings import DatabaseUrlError, library_settings

__all__ = ["BackupError", "Outcome", "Point", "backup", "restore"]
SQLITE_MAGIC = b"SQLite format 3\x00"
PG_MAGIC = b"PGDMP"
SQLITE_EVENTS = "stored_events"  # eventsourcing's SQLite events table; its rowid is the position
COPY_CHUNK = 4 << 20  # bytes copied between two reports of a SQLite restore


def backup(url: str, out: Path, on_progress: Progress | None = None) -> Outcome:
    """Writes a backup of ``url``'s database to ``out``, which must not exist."""
    kind = _kind(url)
    if out.exists():
        raise BackupError(f"{out} exists already; a backup never overwrites a file")
    if not out.parent.is_dir():
        raise BackupError(f"{out.parent} is not a folder")
    partial = out.with_name(f".{out.name}.{os.getpid()}.partial")
    started = time.monotonic()
    try:
        if kind == "postgresql":
            point, tool = dump(library_settings(url), partial, on_progress)
        else:
            point, tool = _sqlite_backup(library_settings(url)["SQLITE_DBNAME"], partial), ""
        _link(partial, out, "a backup never overwrites a file")
    finally:
        partial.unlink(missing_ok=True)
    return Outcome(kind, out, out.stat().st_size, time.monotonic() - started, point, tool)


def restore(url: str, file: Path, replace: bool = False,
            on_progress: Progress | None = None) -> Outcome:
    """Restores the backup ``file`` into ``url``'s database (see the module's doc)."""
    kind = _kind(url)
    try:
        with open(file, "rb") as handle:
            magic = handle.read(len(SQLITE_MAGIC))
    except OSError as error:
        raise BackupError(f"cannot read {file}: {error.strerror}") from None
    found = "postgresql" if magic.startswith(PG_MAGIC) else "sqlite" if magic == SQLITE_MAGIC else None
    if found is None:
        raise BackupError(f"{file} is not a backup of towns (neither pg_dump's custom format "
                          "nor a SQLite database)")
    if found != kind:
        raise BackupError(f"{file} is a {found} backup; TOWNS_DATABASE_URL names a {kind} "
                          f"database: restore it into a {found} one")
    started = time.monotonic()
    if kind == "postgresql":
        point, tool = pg_restore(library_settings(url), file, replace, on_progress)
    else:
        if replace:
            raise BackupError("a SQLite restore never overwrites a file: move the database "
                              "file away first (--replace is for PostgreSQL)")
        target = library_settings(url)["SQLITE_DBNAME"]
        point, tool = _sqlite_restore(file, target, on_progress), ""
    return Outcome(kind, file, file.stat().st_size, time.monotonic() - started, point, tool)


def _kind(url: str) -> str:
    module = library_settings(url)["PERSISTENCE_MODULE"]
    if module == "eventsourcing.postgres":
        return "postgresql"
    if library_settings(url)["SQLITE_DBNAME"] == ":memory:":
        raise DatabaseUrlError("an in-memory SQLite database cannot be backed up or restored")
    return "sqlite"


def _link(source: Path, target: Path, why: str) -> None:
    """``source`` made ``target`` at once, never replacing a file already there."""
    try:
        os.link(source, target)
    except FileExistsError:
        raise BackupError(f"{target} exists already; {why}") from None
    except OSError as error:
        raise BackupError(f"cannot write {target}: {error.strerror}") from None


# -- SQLite ---------------------------------------------------------------------------------------


def _sqlite_backup(path: str, partial: Path) -> Point:
    if not Path(path).is_file():
        raise BackupError(f"no database file at {path}")
    source = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30)
    try:
        _service_tables(source, path)
        copy = sqlite3.connect(partial)
        try:
            source.backup(copy)  # all pages in one step: one consistent instant
            return sqlite_point(copy)
        finally:
            copy.close()
    finally:
        source.close()


def _sqlite_restore(file: Path, target: str, on_progress: Progress | None = None) -> Point:
    destination = Path(target)
    for taken in (destination, Path(f"{target}-wal"), Path(f"{target}-journal")):
        if taken.exists():
            raise BackupError(f"{taken} exists already; a SQLite restore never overwrites a "
                              "file: move it away, or restore to another path")
    backup_db = sqlite3.connect(f"file:{file}?mode=ro", uri=True)
    try:
        problem = backup_db.execute("PRAGMA quick_check").fetchone()[0]
        if problem != "ok":
            raise BackupError(f"{file} is damaged: {problem}")
        _service_tables(backup_db, str(file))
        point = sqlite_point(backup_db)
    finally:
        backup_db.close()
    destination.parent.mkdir(parents=True, exist_ok=True)
    partial = destination.with_name(f".{destination.name}.{os.getpid()}.partial")
    try:
        _copy(file, partial, on_progress)
        _link(partial, destination, "a SQLite restore never overwrites a file")
    finally:
        partial.unlink(missing_ok=True)
    return point


def _copy(file: Path, partial: Path, on_progress: Progress | None) -> None:
    """``file`` copied to ``partial`` and synced, ``on_progress`` told per ``COPY_CHUNK``."""
    size, done = file.stat().st_size, 0
    with open(file, "rb") as source, open(partial, "wb") as target:
        while chunk := source.read(COPY_CHUNK):
            target.write(chunk)
            done += len(chunk)
            if on_progress is not None:
                on_progress("copy", done, max(done, size))
        target.flush()
        os.fsync(target.fileno())


def _service_tables(db: sqlite3.Connection, where: str) -> None:
    found = db.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?",
                       (SQLITE_EVENTS,)).fetchone()
    if not found:
        raise BackupError(f"{where} holds no event store of towns (no table {SQLITE_EVENTS})")


def sqlite_point(db: sqlite3.Connection) -> Point:
    from domain.inbox import InboxMessage

    records, applied, position = db.execute(
        f"SELECT count(*), coalesce(sum(topic = ?), 0), coalesce(max(rowid), 0) "
        f"FROM {SQLITE_EVENTS}", (InboxMessage.Applied.TOPIC,)).fetchone()
    views = {}
    if db.execute("SELECT 1 FROM sqlite_master WHERE name = 'projection_positions'").fetchone():
        views = {n: int(p) for n, p in db.execute(
            "SELECT name, position FROM projection_positions ORDER BY name")}
    return Point(int(records), int(position), int(applied), views)
