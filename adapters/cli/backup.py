"""``towns backup FILE`` and ``towns restore FILE``: the database of TOWNS_DATABASE_URL to a file
and back (``adapters.ops.backup``), with what the backup holds said in a few lines."""

from __future__ import annotations

import argparse
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from adapters.bootstrap import database_url
from adapters.cli.common import Failure, reason_option

VIEWS_SHOWN = 8


def register(commands) -> None:
    backup = commands.add_parser(
        "backup",
        help="write a backup of the database to FILE",
        description=(
            "Writes everything the service keeps in the database of TOWNS_DATABASE_URL at one "
            "instant to FILE, which must not exist: events, snapshots, inbox markers, parked "
            "and dead-lettered messages, read models with their positions, signed tree heads. "
            "PostgreSQL: pg_dump --format=custom of the database (of the URL's schema with "
            "?schema=), in one snapshot; SQLite: a copy by SQLite's online backup API. The "
            "service may go on working meanwhile. Prints the file's size and the backup's "
            "point: the records of the log, its last position, the messages applied."
        ),
    )
    backup.add_argument("file", type=Path, metavar="FILE")
    backup.set_defaults(run=run_backup)
    restore = commands.add_parser(
        "restore",
        help="restore a backup into an empty database",
        description=(
            "Restores FILE (towns backup) into the database of TOWNS_DATABASE_URL. PostgreSQL: "
            "pg_restore in one transaction into an existing database (createdb it first) that "
            "holds none of the backup's tables, unless --replace; SQLite: the file is copied "
            "into place, never over an existing one. Then the restore is recorded in the log "
            "and marked in the witnesses (TOWNS_WITNESS_DIR, the stream towns.checkpoints), "
            "signed with TOWNS_SIGNING_KEY, so that `towns audit verify` knows the heads "
            "signed after the backup for a longer log belong to the log before the restore. "
            "Afterwards have upstream resend everything since the backup's time: what the "
            "backup holds is recognised as duplicates."
        ),
    )
    restore.add_argument("file", type=Path, metavar="FILE")
    restore.add_argument("--replace", action="store_true",
                         help="PostgreSQL: drop the backup's tables where the target holds them, "
                              "and restore them (what they held is lost)")
    restore.add_argument("--no-witness", action="store_true",
                         help="neither record the restore in the log nor mark it in the "
                              "witnesses: a copy to inspect, not to run the service on")
    reason_option(restore)
    restore.set_defaults(run=run_restore)


def run_backup(args: argparse.Namespace) -> None:
    from adapters.cli.progress import phases
    from adapters.ops.backup import BackupError, backup

    url = database_url()
    try:
        with phases("towns backup", "bytes written") as on_progress:
            done = backup(url, args.file, on_progress)
    except BackupError as error:
        raise Failure(str(error)) from None
    how = f"{done.tool} --format=custom" if done.tool else "SQLite's online backup"
    print(f"backup of {shown_url(url)} written to {done.file}: {_size(done.size)} in "
          f"{done.seconds:.1f} s ({how})")
    for line in point_lines(done.point):
        print(line)
    print(f"restore with: towns restore {done.file} (into an empty database)")


def run_restore(args: argparse.Namespace) -> None:
    from adapters.cli.progress import phases
    from adapters.ops.backup import BackupError, restore

    url = database_url()
    try:
        with phases("towns restore", "bytes of the backup") as on_progress:
            done = restore(url, args.file, args.replace, on_progress)
    except BackupError as error:
        raise Failure(str(error)) from None
    how = f" ({done.tool})" if done.tool else ""
    print(f"restored {done.file} ({_size(done.size)}) into {shown_url(url)} in "
          f"{done.seconds:.1f} s{how}")
    for line in point_lines(done.point):
        print(line)
    if args.no_witness:
        print("not recorded in the log, not marked in the witnesses (--no-witness): "
              "`towns audit verify` reports heads signed after the backup as missing records")
        return
    failed = _evidence(args, url, done)
    print("next: start the service on it and have upstream resend everything since the backup "
          "was taken; messages the backup holds are counted as duplicates")
    if failed:
        raise Failure("restored, but the restore was not marked in " + "; ".join(failed)
                      + ": `towns audit verify` reports the heads signed after the backup "
                      "there as missing records")


def _evidence(args: argparse.Namespace, url: str, done) -> list[str]:
    """Marks the restore in the witnesses, then records it in the log; the witnesses it could
    not be written to."""
    from adapters.amqp.topology import amqp_url
    from adapters.audit.evidence.actions import local_actor, record_action
    from adapters.audit.evidence.heads import KeyProblem, Signer
    from adapters.audit.evidence.restores import make_mark
    from adapters.audit.evidence.witnesses import Witnesses
    from adapters.bootstrap import build_towns
    from adapters.config import load_config
    from domain.operations import RESTORE

    try:
        signer = Signer.from_env()
    except KeyProblem as error:
        raise Failure(f"restored, but not marked in the witnesses: {error}") from None
    witnesses = Witnesses.from_env(amqp_url())
    mark = make_mark(done.point.records, done.point.position, signer)
    failed = witnesses.append(mark)
    written = [str(w) for w in witnesses.present if not any(f.startswith(f"{w}:") for f in failed)]
    signed = f"signed by key {signer.key_id}" if signer else "UNSIGNED (no TOWNS_SIGNING_KEY)"
    if written:
        print(f"witnesses: the restore to {done.point.records} records is marked in "
              f"{', '.join(written)}, {signed}")
    for sentence in witnesses.missing():
        print(f"witnesses: {sentence}")
    towns = build_towns(load_config(), url)
    try:
        record_action(towns, RESTORE, local_actor(), args.reason, {
            "backup": args.file.name, "records": done.point.records,
            "position": done.point.position, "mark_time": mark.time})
    finally:
        towns.close()
    print(f"recorded in the log as the operator action {RESTORE}")
    return failed


def point_lines(point) -> list[str]:
    """The backup's point in at most two lines."""
    lines = [f"the log up to position {point.position}: {point.records:,} records, "
             f"{point.applied:,} messages applied"]
    if point.views:
        views = list(point.views.items())
        text = ", ".join(f"{n} {p}" for n, p in views[:VIEWS_SHOWN])
        more = f", ... ({len(views) - VIEWS_SHOWN} more)" if len(views) > VIEWS_SHOWN else ""
        lines.append(f"read models at positions: {text}{more}")
    return lines


def shown_url(url: str) -> str:
    """The URL without its password."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit(parts._replace(netloc=f"{parts.username}:***@{host}"))


def _size(count: int) -> str:
    for unit in ("bytes", "KiB", "MiB", "GiB"):
        if count < 1024 or unit == "GiB":
            return f"{count} {unit}" if unit == "bytes" else f"{count:.1f} {unit}"
        count /= 1024
    return f"{count} bytes"
