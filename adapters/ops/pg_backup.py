"""Backups on PostgreSQL with its own tools: ``pg_dump --format=custom`` and ``pg_restore``.

The dump is taken in a snapshot this module holds open (``pg_export_snapshot``) and in which
it also reads the backup's point, so that what it prints is exactly what the file holds, however
busy the consumer and the workers are meanwhile. With ``?schema=NAME`` only that schema is
dumped. The restore runs ``pg_restore --single-transaction --exit-on-error --no-owner
--no-privileges``: all or nothing, the objects owned by the restoring user, no grants (give the
service's other roles theirs again). The tools are found in ``TOWNS_PG_BIN`` where it is set, else
on ``PATH``, else in Debian's ``/usr/lib/postgresql/<version>/bin`` (the newest); the password
goes to them in ``PGPASSWORD``, never on their command line. While a tool runs, ``on_progress``
(where given) is told ``(step, done, total)`` every ``POLL_SECONDS``: pg_dump's bytes written so
far (the total known only at the end), pg_restore's bytes of the backup read (Linux: its file
offset, from ``/proc``) of the file's size.
"""

from __future__ import annotations

import glob
import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Callable
from pathlib import Path

import psycopg
from psycopg import sql

from adapters.ops.backup_records import BackupError, Point
from domain.inbox import InboxMessage
from domain.service import Towns

BIN_ENV = "TOWNS_PG_BIN"
EVENTS = f"{Towns.name.lower()}_events"  # eventsourcing's PostgreSQL events table of the service
TOC_LINE = re.compile(r"^\d+; \d+ \d+ (?P<what>.*)$")
STDERR_SHOWN = 600
POLL_SECONDS = 0.5
Progress = Callable[[str, int, int], None]
"""``on_progress(step, done, total)``: the tool running, bytes done, bytes in all (0: unknown)."""


def tool(name: str) -> str:
    """The path of PostgreSQL's program ``name``, or BackupError saying how to get it."""
    folder = os.environ.get(BIN_ENV, "").strip()
    if folder:
        path = Path(folder) / name
        if os.access(path, os.X_OK):
            return str(path)
        raise BackupError(f"{BIN_ENV}={folder} holds no {name}")
    found = shutil.which(name)
    if found:
        return found
    debian = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"),
                    key=lambda p: int(re.sub(r"\D", "", p.split("/")[4]) or 0), reverse=True)
    if debian:
        return debian[0]
    raise BackupError(f"{name} is not installed: install PostgreSQL's client programs (Debian: "
                      f"apt-get install postgresql-client-15) or set {BIN_ENV} to their folder")


def _connection(settings: dict[str, str], primary: bool = False) -> dict[str, str]:
    """libpq's parameters for the database of ``settings`` (eventsourcing's POSTGRES_*)."""
    params = {"host": settings["POSTGRES_HOST"], "port": settings["POSTGRES_PORT"],
              "user": settings["POSTGRES_USER"], "dbname": settings["POSTGRES_DBNAME"],
              "connect_timeout": settings.get("POSTGRES_CONNECT_TIMEOUT", "5")}
    if primary and "," in params["host"]:
        params["target_session_attrs"] = "read-write"  # of several hosts, the one that writes
    return params


def _connect(settings: dict[str, str], primary: bool = False) -> psycopg.Connection:
    params = _connection(settings, primary)
    try:
        return psycopg.connect(**params, password=settings.get("POSTGRES_PASSWORD") or None)
    except psycopg.OperationalError as error:
        text = " ".join(str(error).split())
        hint = (f" (create it first: createdb {params['dbname']})"
                if "does not exist" in text else "")
        raise BackupError(f"cannot connect to database {params['dbname']} at "
                          f"{params['host']}:{params['port']}: {text[:300]}{hint}") from None


def _run(program: str, args: list[str], settings: dict[str, str],
         watch: Callable[[int], None] | None = None) -> None:
    """Runs ``program``; ``watch`` is called with its process id every ``POLL_SECONDS``."""
    env = {**os.environ, "PGPASSWORD": settings.get("POSTGRES_PASSWORD", ""),
           "PGCONNECT_TIMEOUT": settings.get("POSTGRES_CONNECT_TIMEOUT", "5")}
    if not env["PGPASSWORD"]:
        env.pop("PGPASSWORD")
    with subprocess.Popen([program, *args], env=env, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, text=True, stdin=subprocess.DEVNULL) as process:
        while True:
            try:
                stderr = process.communicate(timeout=POLL_SECONDS)[1]
                break
            except subprocess.TimeoutExpired:  # nothing of its output is lost by asking again
                if watch is not None:
                    watch(process.pid)
    if process.returncode != 0:
        said = " ".join(stderr.split())
        said = said if len(said) <= STDERR_SHOWN else "..." + said[-STDERR_SHOWN:]
        raise BackupError(f"{Path(program).name} failed (exit {process.returncode}): "
                          f"{said or 'no message'}")


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0  # not made yet


def _offset(pid: int, file: Path) -> int | None:
    """How far process ``pid`` has read ``file`` (Linux's ``/proc``), or None."""
    target = str(file.resolve())
    try:
        for fd in os.listdir(f"/proc/{pid}/fd"):
            if os.readlink(f"/proc/{pid}/fd/{fd}") == target:
                with open(f"/proc/{pid}/fdinfo/{fd}", encoding="ascii") as info:
                    return next(int(line.split()[1]) for line in info if line.startswith("pos:"))
    except (OSError, StopIteration, ValueError):
        return None
    return None


def _conninfo(params: dict[str, str]) -> str:
    return psycopg.conninfo.make_conninfo(**params)


def dump(settings: dict[str, str], out: Path,
         on_progress: Progress | None = None) -> tuple[Point, str]:
    """``pg_dump --format=custom`` of the database (or the URL's schema) into ``out``, in one
    snapshot; the backup's point read in that snapshot."""
    program = tool("pg_dump")
    schema = settings.get("POSTGRES_SCHEMA")
    with _connect(settings) as conn:
        conn.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
        conn.read_only = True
        snapshot = conn.execute("SELECT pg_export_snapshot()").fetchone()[0]
        point = pg_point(conn, schema or "public")
        if point is None:
            raise BackupError(f"database {settings['POSTGRES_DBNAME']}"
                              + (f", schema {schema}," if schema else "")
                              + f" holds no event store of towns (no table {EVENTS})")
        # the snapshot lives on the server this connection reached (of several hosts)
        params = {**_connection(settings), "host": conn.info.host, "port": str(conn.info.port)}
        _run(program, ["--format=custom", f"--snapshot={snapshot}", "--no-password",
                       f"--file={out}", *([f"--schema={schema}"] if schema else []),
                       f"--dbname={_conninfo(params)}"], settings,
             None if on_progress is None else lambda _: on_progress("pg_dump", _size(out), 0))
        conn.rollback()
    if on_progress is not None:
        on_progress("pg_dump", _size(out), _size(out))  # done: the size is the whole
    return point, "pg_dump"


def restore(settings: dict[str, str], file: Path, replace: bool,
            on_progress: Progress | None = None) -> tuple[Point, str]:
    """``pg_restore`` of ``file`` into the database (or the URL's schema), refusing a target
    that holds any of the backup's tables unless ``replace``."""
    program = tool("pg_restore")
    entries = _listing(program, file)
    tables = {(s, n) for kind, s, n, _ in entries if kind == "TABLE"}
    schemas = {s for s, _ in tables}
    wanted = settings.get("POSTGRES_SCHEMA")
    if not any(n == EVENTS for _, n in tables):
        raise BackupError(f"{file} holds no event store of towns (no table {EVENTS})")
    if wanted and schemas != {wanted}:
        raise BackupError(f"{file} holds schema {', '.join(sorted(schemas))}, not {wanted}: "
                          "restore it into a URL with that ?schema= (pg_restore does not rename "
                          "schemas; ALTER SCHEMA ... RENAME TO afterwards)")
    if not wanted and "public" not in schemas:
        only = sorted(schemas)[0]
        raise BackupError(f"{file} is a backup of schema {only}: restore it with "
                          f"?schema={only} in TOWNS_DATABASE_URL")
    with _connect(settings, primary=True) as conn:
        there = [f"{s}.{n}" for s, n in sorted(tables) if _exists(conn, s, n)]
        existing = {r[0] for r in conn.execute("SELECT nspname FROM pg_namespace")}
        params = {**_connection(settings), "host": conn.info.host, "port": str(conn.info.port)}
    if there and not replace:
        shown = ", ".join(there[:5]) + (f" and {len(there) - 5} more" if len(there) > 5 else "")
        raise BackupError(f"the target already holds {len(there)} of the backup's tables "
                          f"({shown}): restore into an empty database, or give --replace to "
                          "drop and replace them")
    with tempfile.NamedTemporaryFile("w", suffix=".list", delete=False) as chosen:
        for kind, schema, _, line in entries:
            if kind == "SCHEMA" and schema in existing:
                continue  # a schema already there is used as it is, never dropped
            chosen.write(line + "\n")
    try:
        _run(program, ["--single-transaction", "--exit-on-error", "--no-owner",
                       "--no-privileges", "--no-password", *(["--clean", "--if-exists"]
                                                             if replace else []),
                       f"--use-list={chosen.name}", f"--dbname={_conninfo(params)}", str(file)],
             settings, None if on_progress is None else lambda pid: _read(pid, file, on_progress))
    finally:
        os.unlink(chosen.name)
    if on_progress is not None:
        on_progress("pg_restore", _size(file), _size(file))  # all of it restored
    with _connect(settings, primary=True) as conn:
        point = pg_point(conn, wanted or "public")
    return point, "pg_restore"


def _read(pid: int, file: Path, on_progress: Progress) -> None:
    offset = _offset(pid, file)
    if offset is not None:
        on_progress("pg_restore", offset, max(offset, _size(file)))


def _listing(program: str, file: Path) -> list[tuple[str, str, str, str]]:
    """The archive's table of contents: (kind, schema, name, line) per entry."""
    done = subprocess.run([program, "--list", str(file)], capture_output=True,
                          text=True, stdin=subprocess.DEVNULL)
    if done.returncode != 0:
        raise BackupError(f"{file} cannot be read by pg_restore: "
                          f"{' '.join(done.stderr.split())[:STDERR_SHOWN]}")
    out = []
    for line in done.stdout.splitlines():
        found = TOC_LINE.match(line)
        if not found:
            continue  # a comment
        words = found["what"].split(" ")
        if words[0] == "SCHEMA" and len(words) > 2:  # "SCHEMA - name owner"
            out.append(("SCHEMA", words[2], "-", line))
        elif words[0] == "TABLE" and len(words) > 2 and words[1] != "DATA":
            out.append(("TABLE", words[1], words[2], line))  # "TABLE schema name owner"
        else:
            out.append(("OTHER", "", "", line))
    return out


def pg_point(conn: psycopg.Connection, schema: str) -> Point | None:
    """The point of the log in ``schema`` as ``conn`` sees it; None without an event store."""
    if not _exists(conn, schema, EVENTS):
        return None
    records, applied, position = conn.execute(sql.SQL(
        "SELECT count(*), count(*) FILTER (WHERE topic = %s), coalesce(max(notification_id), 0) "
        "FROM {}").format(sql.Identifier(schema, EVENTS)), (InboxMessage.Applied.TOPIC,)).fetchone()
    views = {}
    if _exists(conn, schema, "projection_positions"):
        views = {n: int(p) for n, p in conn.execute(sql.SQL(
            "SELECT name, position FROM {} ORDER BY name").format(
                sql.Identifier(schema, "projection_positions")))}
    return Point(int(records), int(position), int(applied), views)


def _exists(conn: psycopg.Connection, schema: str, table: str) -> bool:
    name = sql.Identifier(schema, table).as_string(conn)
    return conn.execute("SELECT to_regclass(%s)", (name,)).fetchone()[0] is not None
