"""Freeze the rows this version of the service writes to its event store, as test fixtures.

Run once from the repository root, with PostgreSQL up (the tests' server by default)::

    .venv/bin/python scripts/freeze_stored_events.py --name gen-2    # tests/fixtures/stored/gen-2/

(it refuses to overwrite a generation that exists: ``gen-1`` is committed).

To freeze exactly what a commit writes, whatever the working tree holds, run it in an export of
that commit (this is how ``gen-1`` was made)::

    rm -rf /tmp/frozen && mkdir /tmp/frozen && git archive HEAD | tar -x -C /tmp/frozen
    cp scripts/freeze_stored_events.py /tmp/frozen/scripts/   # if the commit lacks it
    .venv/bin/python /tmp/frozen/scripts/freeze_stored_events.py --out tests/fixtures/stored \
        --name gen-2 --git-commit "$(git rev-parse HEAD)"

It drives a fresh store of each kind (a SQLite file, a fresh PostgreSQL schema, dropped
afterwards) through one history that writes every record type the service keeps in its event
store: every event of ``Application`` (submitted, resubmitted, withdrawn, returned,
city-verified, recommended, rejected, materials received, evaluated, approved, lapsed,
reinstated), an application's snapshot (at version 50), the inbox markers (applied, a conflict
seen), parked messages (parked, released, reparked), dead letters (recorded, published,
re-driven, dead-lettered again, send failed, resending, gave up), the deadline check, an
operator action and the deployment's records (started, configuration, signing key). It then
copies every row of the events and snapshots tables, every column as stored, into
``<out>/<name>/sqlite.jsonl`` and ``postgres.jsonl`` and writes ``manifest.json``: who wrote
them (library version, git commit) and what the current code must read back from them (each
aggregate's version and state, each application's last hash), which
``tests/integration/test_stored_fixtures.py`` checks.

A generation, once committed, is never written again: it stands for data that exists. A change
of the stored format adds a generation (``--name``) and keeps the old ones passing (an
upcaster, a registered old topic; see README "Changing a stored event").
"""

from __future__ import annotations

import argparse
import base64
import json
import platform
import sqlite3
import subprocess
import sys
import tempfile
import uuid
from datetime import date, datetime
from importlib.metadata import version as package_version
from pathlib import Path
from typing import Any
from uuid import UUID

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from adapters.bootstrap import build_towns  # noqa: E402
from adapters.config import Config, load_config  # noqa: E402
from adapters.audit.evidence.actions import record_start  # noqa: E402
from adapters.store.inbound_records import InboundRecords  # noqa: E402
from domain.applications import Application, application_id  # noqa: E402
from domain.deadline import DeadlineCheck  # noqa: E402
from domain.errors import DomainError  # noqa: E402
from domain.inbound import DeadLetter, ParkedMessage, dead_letter_id, parked_id  # noqa: E402
from domain.inbox import InboxMessage  # noqa: E402
from domain.operations import DEPLOYMENT_ID, REDRIVE, Deployment, OperatorAction  # noqa: E402
from domain.service import Towns  # noqa: E402
from tests.desk import Desk  # noqa: E402
from tests.factories import CALL, CST, at, envelope  # noqa: E402

DEFAULT_OUT = ROOT / "tests" / "fixtures" / "stored"
DEFAULT_POSTGRES = "postgresql://postgres@127.0.0.1:5432/test"
AS_OF = datetime(2017, 3, 31, 23, 59, 59, tzinfo=CST)  # cutoff + one day's grace
ACTION_ID = UUID("00000000-0000-4000-8000-000000000001")
SNAPSHOT_APP = "SD-2017-005"

STATE_FIELDS: dict[type, tuple[str, ...]] = {
    Application: ("call_id", "application_ref", "status", "lapsed_from", "town_name", "track",
                  "city", "region", "owner", "applicant", "indicators", "attestation",
                  "submitted_at", "recommended_at", "receipts", "evaluation", "decision",
                  "lapse", "reinstated", "closed_at", "closed_version", "last_hash",
                  "updated_at"),
    InboxMessage: ("message_id", "digest", "application_id", "principal", "conflicts"),
    DeadLetter: ("key", "message_id", "code", "detail", "body", "body_encoding", "user_id",
                 "routing_key", "first_seen", "properties", "body_length", "body_sha256",
                 "headers_too_large", "attempts", "open", "dead_lettered_at", "requeues",
                 "published", "sends", "publish_error", "headers_dropped"),
    ParkedMessage: ("key", "application_id", "message_id", "body", "body_encoding", "user_id",
                    "routing_key", "first_seen", "window_from", "code", "detail", "properties",
                    "headers_too_large", "open", "released_as"),
    DeadlineCheck: ("call_id", "cutoff", "as_of", "ran_at", "lapsed"),
    OperatorAction: ("action", "actor", "reason", "details"),
    Deployment: ("config_hash", "key_id"),
}
"""What the manifest keeps of each aggregate's state, as read back by the code that froze it."""


def jsonable(value: Any) -> Any:
    """A value of an aggregate's state as the manifest writes it (and the test compares it)."""
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, (UUID, date)):
        return str(value)
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    return value


# -- the history ---------------------------------------------------------------------------------


class History:
    """Drives one store through every record type, with fixed message ids and business times."""

    def __init__(self, towns: Towns, config: Config) -> None:
        self.towns = towns
        self.config = config
        self.desk = Desk(towns, config)
        self.count = 0

    def mid(self) -> str:
        self.count += 1
        return f"freeze-{self.count:03d}"

    def send(self, kind: str, type_: str | None, ref: str, **kw: Any) -> Any:
        kw.setdefault("message_id", self.mid())
        if kind == "submit":
            return self.desk.submit(ref, **kw)
        return getattr(self.desk, kind)(type_, ref, **kw)

    def run(self) -> None:
        # 001: every step to approval, a return and resubmission on the way
        ref = "SD-2017-001"
        self.send("submit", None, ref, occurred_at=at(1))
        self.send("city", "application.returned", ref, occurred_at=at(2))
        self.send("applicant", "application.resubmitted", ref, occurred_at=at(3))
        self.send("city", "application.city_verified", ref, occurred_at=at(4))
        self.send("city", "application.recommended", ref, occurred_at=at(5))
        self.send("province", "materials.received", ref, occurred_at=at(6))
        self.send("province", "application.evaluated", ref, occurred_at=at(7))
        self.send("province", "application.approved", ref, occurred_at=at(8))
        # 002: withdrawn; 003: rejected by the city
        self.send("submit", None, "SD-2017-002", occurred_at=at(2))
        self.send("applicant", "application.withdrawn", "SD-2017-002", occurred_at=at(3))
        self.send("submit", None, "SD-2017-003", occurred_at=at(2))
        self.send("city", "application.rejected", "SD-2017-003", occurred_at=at(3))
        # 004: recommended without materials: lapses at the check, reinstated by timely evidence
        ref = "SD-2017-004"
        self.send("submit", None, ref, occurred_at=at(3))
        self.send("city", "application.city_verified", ref, occurred_at=at(4))
        self.send("city", "application.recommended", ref, occurred_at=at(5))
        # 005: fifty events, so the service writes a snapshot at version 50
        self.send("submit", None, SNAPSHOT_APP, occurred_at=at(3))
        self.send("city", "application.city_verified", SNAPSHOT_APP, occurred_at=at(4))
        self.send("city", "application.recommended", SNAPSHOT_APP, occurred_at=at(5))
        for n in range(47):
            self.send("province", "materials.received", SNAPSHOT_APP, occurred_at=at(6 + n % 20))
        # 006: submitted only: lapses and stays lapsed
        self.send("submit", None, "SD-2017-006", occurred_at=at(9))
        # a repeat (nothing recorded) and a repeat with another body (a conflict, kept)
        body = envelope("application.submitted", "SD-2017-007", "shunde",
                        message_id="freeze-repeat", occurred_at=at(9))
        self.desk.send("shunde-applicant", body)
        self.desk.send("shunde-applicant", body)
        try:
            changed = {**body, "payload": {**body["payload"], "town_name": "Lecong Town (乐从镇)"}}
            self.desk.send("shunde-applicant", changed)
        except DomainError:
            pass
        else:
            raise AssertionError("a repeat with another body must be refused")
        # the deadline check: 004 and 006 lapse; then 004's timely materials reinstate it
        run = self.towns.check_deadline(CALL, AS_OF)
        assert run.first_run and sorted(run.lapsed) == ["SD-2017-004", "SD-2017-006", "SD-2017-007"], run
        self.send("province", "materials.received", "SD-2017-004", occurred_at=at(20))
        self.inbound()
        self.operations()

    def inbound(self) -> None:
        records = InboundRecords(self.towns)
        seen = datetime(2017, 3, 10, 10, 0, 0, tzinfo=CST)
        app = application_id(CALL, "SD-2017-001")
        # a letter published, re-driven, dead-lettered again
        key = "freeze-dead-1"
        body = b'{"message_id": "freeze-dead-1", "type": "application.approved"}'
        letter = records.dead_letter(key, key, "invalid_transition", "not allowed while approved",
                                     body, "province", "towns.inbound", seen,
                                     properties='{"headers": {"x-freeze": "1"}}')
        records.sent([(letter.letter.id, letter.send)])
        records.requeued(letter.letter.id, "operator")
        records.dead_letter(key, key, "invalid_transition", "still not allowed", body,
                            "province", "towns.inbound", seen)
        # a letter (a body that is not UTF-8) whose copy fails, is resent, then given up
        key = "sha256:" + "ab" * 32
        raw = b"\xff\xfe not utf-8"
        first = records.dead_letter(key, None, "malformed", "the message is not UTF-8", raw,
                                    None, "towns.inbound", seen, headers_too_large=True)
        records.not_sent([(first.letter.id, first.send, "nack")])
        records.dead_letter(key, None, "malformed", "the message is not UTF-8", raw, None,
                            "towns.inbound", seen)
        records.dead_letter(key, None, "malformed", "the message is not UTF-8", raw, None,
                            "towns.inbound", seen)
        letter = records.letter(dead_letter_id(key))
        assert letter.published is False, "the third copy must be given up"
        # a parked message released, then parked again
        key = "freeze-parked-1"
        records.park(key, key, app, b'{"message_id": "freeze-parked-1"}', "shunde-city",
                     "towns.inbound", seen, "invalid_transition", "arrived early",
                     window_from=seen, properties='{"headers": {}}')
        records.release(parked_id(key), "applied")
        records.park(key, key, app, b'{"message_id": "freeze-parked-1"}', "shunde-city",
                     "towns.inbound", seen, "unknown_application", "arrived early again")

    def operations(self) -> None:
        self.towns.save(OperatorAction.take(REDRIVE, "operator", "freeze: a re-drive",
                                            {"letter": str(dead_letter_id("freeze-dead-1"))},
                                            id=ACTION_ID))
        record_start(self.towns, self.config, None, "freeze")
        deployment = self.towns.repository.get(DEPLOYMENT_ID)
        deployment.signing_key("freeze-key-1", "-----BEGIN PUBLIC KEY-----\nfreeze\n"
                               "-----END PUBLIC KEY-----\n", "operator")
        self.towns.save(deployment)


# -- the rows ------------------------------------------------------------------------------------


def tables(towns: Towns) -> dict[str, str]:
    """The tables of the event store: events (the log) and snapshots."""
    found = {"events": towns.recorder.events_table_name}
    if towns.snapshots is not None:
        found["snapshots"] = towns.snapshots.recorder.events_table_name
    return found


def cell(value: Any) -> Any:
    if isinstance(value, memoryview):
        value = bytes(value)
    if isinstance(value, bytes):
        return base64.b64encode(value).decode("ascii")
    if isinstance(value, UUID):
        return str(value)
    return value


def sqlite_rows(path: str, table: str, kind: str) -> tuple[list[str], list[dict]]:
    conn = sqlite3.connect(path)
    try:
        rowid = "rowid AS notification_id, " if kind == "events" else ""
        order = "rowid" if kind == "events" else "originator_id, originator_version"
        cursor = conn.execute(f"SELECT {rowid}* FROM {table} ORDER BY {order}")
        names = [d[0] for d in cursor.description]
        rows = [dict(zip(names, map(cell, row))) for row in cursor.fetchall()]
        return names, rows
    finally:
        conn.close()


def postgres_rows(url: str, schema: str, table: str, kind: str) -> tuple[list[str], list[dict]]:
    import psycopg

    order = "notification_id" if kind == "events" else "originator_id, originator_version"
    with psycopg.connect(url) as conn:
        cursor = conn.execute(f'SELECT * FROM "{schema}"."{table}" ORDER BY {order}')
        names = [d.name for d in cursor.description]
        rows = [dict(zip(names, map(cell, row))) for row in cursor.fetchall()]
        return names, rows


def column_types_postgres(url: str, schema: str, table: str) -> dict[str, str]:
    import psycopg

    with psycopg.connect(url) as conn:
        return dict(conn.execute(
            "SELECT column_name, data_type FROM information_schema.columns "
            "WHERE table_schema = %s AND table_name = %s ORDER BY ordinal_position",
            (schema, table)).fetchall())


def column_types_sqlite(path: str, table: str) -> dict[str, str]:
    conn = sqlite3.connect(path)
    try:
        return {row[1]: row[2] for row in conn.execute(f"PRAGMA table_info({table})")}
    finally:
        conn.close()


# -- what must be read back ----------------------------------------------------------------------


def expectations(towns: Towns, event_rows: list[dict], snapshot_rows: list[dict]) -> dict:
    """Each aggregate's version and state as the code that froze the rows reads them back."""
    ids: dict[str, None] = {}
    for row in event_rows:
        ids.setdefault(str(row["originator_id"]), None)
    aggregates = {}
    for key in ids:
        aggregate_id = UUID(key) if len(key) in (32, 36) else key
        aggregate = towns.repository.get(UUID(str(aggregate_id)))
        kind = type(aggregate)
        state = {name: jsonable(getattr(aggregate, name, None)) for name in STATE_FIELDS[kind]}
        aggregates[str(aggregate.id)] = {
            "topic": kind.TOPIC,
            "version": aggregate.version,
            "state": state,
        }
    applications = {}
    for aggregate_id, entry in aggregates.items():
        if entry["topic"] == Application.TOPIC:
            state = entry["state"]
            applications[state["application_ref"]] = {
                "id": aggregate_id,
                "status": state["status"],
                "version": entry["version"],
                "last_hash": state["last_hash"],
            }
    topics: dict[str, int] = {}
    for row in event_rows:
        topics[row["topic"]] = topics.get(row["topic"], 0) + 1
    return {
        "call_id": CALL,
        "applications": dict(sorted(applications.items())),
        "aggregates": aggregates,
        "event_topics": dict(sorted(topics.items())),
        "snapshots": [{"originator_id": str(r["originator_id"]),
                       "originator_version": r["originator_version"],
                       "topic": r["topic"]} for r in snapshot_rows],
    }


def write_store(out: Path, store: str, url: str, towns: Towns, schema: str | None,
                path: str | None) -> dict:
    found = tables(towns)
    lines, info = [], {"tables": {}}
    all_rows: dict[str, list[dict]] = {}
    for kind, table in found.items():
        if store == "sqlite":
            names, rows = sqlite_rows(path, table, kind)
            types = column_types_sqlite(path, table)
        else:
            names, rows = postgres_rows(url.split("?", 1)[0], schema, table, kind)
            types = column_types_postgres(url.split("?", 1)[0], schema, table)
        all_rows[kind] = rows
        info["tables"][kind] = {"name": table, "columns": names, "types": types,
                                "rows": len(rows)}
        lines += [json.dumps({"table": kind, **row}, ensure_ascii=False) for row in rows]
    (out / f"{store}.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    info["file"] = f"{store}.jsonl"
    info["expect"] = expectations(towns, all_rows["events"], all_rows.get("snapshots", []))
    return info


def freeze_sqlite(config: Config, out: Path) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        path = f"{tmp}/towns.db"
        towns = build_towns(config, f"sqlite:///{path}")
        try:
            History(towns, config).run()
            return write_store(out, "sqlite", f"sqlite:///{path}", towns, None, path)
        finally:
            towns.close()


def freeze_postgres(config: Config, out: Path, base_url: str) -> dict:
    import psycopg

    schema = f"freeze_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(base_url, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")
    try:
        url = f"{base_url}?schema={schema}"
        towns = build_towns(config, url)
        try:
            History(towns, config).run()
            return write_store(out, "postgres", url, towns, schema, None)
        finally:
            towns.close()
    finally:
        with psycopg.connect(base_url, autocommit=True) as conn:
            conn.execute(f"DROP SCHEMA {schema} CASCADE")


def git(*args: str) -> str | None:
    try:
        return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True,
                              check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--name", default="gen-1", help="the generation's folder under --out")
    parser.add_argument("--postgres", default=DEFAULT_POSTGRES, help="a database to make a schema in")
    parser.add_argument("--force", action="store_true", help="overwrite an existing generation")
    parser.add_argument("--git-commit", help="the commit this tree is an exact copy of (run from "
                        "`git archive COMMIT`, so that the rows are that commit's and no one's edits)")
    args = parser.parse_args(argv)
    out = args.out / args.name
    if out.exists() and not args.force:
        parser.error(f"{out} exists: a generation, once committed, is never written again "
                     "(give another --name)")
    out.mkdir(parents=True, exist_ok=True)
    config = load_config()
    stores = {"sqlite": freeze_sqlite(config, out),
              "postgres": freeze_postgres(config, out, args.postgres)}
    status = None if args.git_commit else git("status", "--porcelain")
    manifest = {
        "generation": args.name,
        "written_at": datetime.now().astimezone().isoformat(),
        "writer": {
            "script": "scripts/freeze_stored_events.py",
            "eventsourcing": package_version("eventsourcing"),
            "python": platform.python_version(),
            "git_commit": args.git_commit or git("rev-parse", "HEAD"),
            "git_dirty": False if args.git_commit else (bool(status) if status is not None else None),
        },
        "encoding": "one JSON object per row: 'table' (events or snapshots) and every column "
                    "as stored; bytes (state) in base64, ids as text",
        "stores": stores,
    }
    (out / "manifest.json").write_text(
        json.dumps(manifest, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    for store, info in stores.items():
        counts = {k: v["rows"] for k, v in info["tables"].items()}
        print(f"{store}: {counts}, {len(info['expect']['event_topics'])} topics -> {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
