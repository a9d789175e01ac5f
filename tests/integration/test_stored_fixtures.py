"""Rows the service wrote in the past, read by the code of today.

``tests/fixtures/stored/<generation>/`` holds the exact rows (every column, the states' bytes)
that one version of the service wrote to its event store on SQLite and on PostgreSQL, for every
record type it keeps there, made once by ``scripts/freeze_stored_events.py`` and never written
again: they stand for data that exists. Each generation is inserted as it is into a fresh store
of its kind, and then, with the current code:

* the store gives back exactly those rows, in the same notification order;
* every record decodes (the mapper: its topic resolves, its state parses) to an event whose
  fields are the class's own (no field the class no longer has, none missing that has no
  default), and encoding it again gives back exactly the stored topic and bytes, which the
  audit (``Towns.decode_stored``) requires;
* every application's hash chain holds (``domain.history.first_break`` and the service's
  ``verify_application``), and its replay (``domain.history.fold``) ends at the version, last
  hash and state the manifest says the code that wrote them read back;
* every aggregate (inbox markers, parked messages, dead letters, the deadline check, operator
  actions, the deployment) loads through the repository to that version and state, and the
  snapshot decodes to the state of its version.

A change of the stored format (a renamed field or topic, a changed encoding) fails here. Such a
change needs an upcaster or a registered old topic, so that these rows still pass (README,
"Changing a stored event"); it never regenerates a generation.
"""

from __future__ import annotations

import base64
import dataclasses
import json
import sqlite3
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest
from eventsourcing.persistence import StoredEvent
from eventsourcing.utils import get_topic

from adapters.bootstrap import build_towns
from domain.applications import EVENT_CLASSES, Application
from domain.deadline import DeadlineCheck
from domain.history import first_break, fold
from domain.inbound import DeadLetter, ParkedMessage
from domain.inbox import InboxMessage
from domain.operations import Deployment, OperatorAction

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "stored"
GENERATIONS = sorted(p.name for p in FIXTURES.iterdir() if (p / "manifest.json").is_file())
BINARY = {"blob", "bytea"}


def manifest(generation: str) -> dict:
    return json.loads((FIXTURES / generation / "manifest.json").read_text(encoding="utf-8"))


def frozen_rows(generation: str, store: str) -> dict[str, list[dict]]:
    """The rows of each table (events, snapshots), every column as stored (bytes decoded)."""
    info = manifest(generation)["stores"][store]
    types = {kind: {c: t.lower() for c, t in table["types"].items()}
             for kind, table in info["tables"].items()}
    rows: dict[str, list[dict]] = {kind: [] for kind in info["tables"]}
    path = FIXTURES / generation / info["file"]
    for line in path.read_text(encoding="utf-8").splitlines():
        row = json.loads(line)
        kind = row.pop("table")
        rows[kind].append({c: base64.b64decode(v) if types[kind].get(c) in BINARY else v
                           for c, v in row.items()})
    for kind, table in info["tables"].items():
        assert len(rows[kind]) == table["rows"], f"{path}: {kind} rows lost"
    return rows


def jsonable(value: Any) -> Any:
    """A value of state as the manifest writes it (``scripts/freeze_stored/expect.jsonable``)."""
    if hasattr(value, "isoformat"):
        return value.isoformat()
    if isinstance(value, UUID):
        return str(value)
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    return value


def stored(row: dict) -> StoredEvent:
    return StoredEvent(originator_id=UUID(row["originator_id"]),
                       originator_version=row["originator_version"], topic=row["topic"],
                       state=row["state"])


# -- loading the rows as they are ----------------------------------------------------------------


def load_sqlite(path: str, generation: str, info: dict) -> dict[str, list[dict]]:
    rows = frozen_rows(generation, "sqlite")
    conn = sqlite3.connect(path)
    try:
        with conn:
            for kind, table in info["tables"].items():
                columns = ["rowid" if c == "notification_id" else c for c in table["columns"]]
                statement = (f"INSERT INTO {table['name']} ({', '.join(columns)}) "
                             f"VALUES ({', '.join('?' * len(columns))})")
                conn.executemany(statement, [[r[c] for c in table["columns"]] for r in rows[kind]])
    finally:
        conn.close()
    return rows


def load_postgres(url: str, generation: str, info: dict) -> dict[str, list[dict]]:
    import psycopg

    from projections.database_url import PostgresUrl

    target = PostgresUrl.parse(url)
    schema = target.schema
    rows = frozen_rows(generation, "postgres")
    with psycopg.connect(target.conninfo()) as conn:
        for kind, table in info["tables"].items():
            columns = table["columns"]
            name = f'"{schema}"."{table["name"]}"'
            with conn.cursor() as cursor:
                cursor.executemany(
                    f"INSERT INTO {name} ({', '.join(columns)}) "
                    f"VALUES ({', '.join(['%s'] * len(columns))})",
                    [[r[c] for c in columns] for r in rows[kind]])
            if "notification_id" in columns:  # later writes continue after the frozen ones
                conn.execute(f"SELECT setval(pg_get_serial_sequence('{name}', 'notification_id'), "
                             f"(SELECT max(notification_id) FROM {name}))")
    return rows


# -- what the current code must read from them ---------------------------------------------------


def check_fields(event: Any, where: str) -> None:
    """The decoded event holds exactly the class's fields: none it no longer knows (a renamed
    field), none missing that has no default (a field added without an upcaster)."""
    fields = dataclasses.fields(type(event))
    known = {f.name for f in fields}
    required = {f.name for f in fields if f.default is dataclasses.MISSING
                and f.default_factory is dataclasses.MISSING}
    held = set(vars(event))
    assert not held - known, f"{where}: stored fields the class does not have: {held - known}"
    assert not required - held, f"{where}: fields missing from the stored state: {required - held}"


def decode_exactly(towns: Any, record: Any, where: str) -> Any:
    """The record decoded, its fields the class's, its encoding again the stored one: the
    event's own encoding; for a record of an older ``class_version`` (upcast as it is decoded),
    the encoding of its state in that version."""
    event = towns.mapper.to_domain_event(record)
    check_fields(event, where)
    again = towns.mapper.to_stored_event(event)
    assert (again.originator_id, again.originator_version, again.topic) == (
        record.originator_id, record.originator_version, record.topic), where
    transcoder = towns.mapper.transcoder
    state = transcoder.decode(record.state)
    if state.get("class_version", 1) != getattr(type(event), "class_version", 1):
        again = StoredEvent(record.originator_id, record.originator_version, record.topic,
                            transcoder.encode(state))
    assert again.state == record.state, f"{where}: encoding it again changes its bytes"
    return event


def check_state(aggregate: Any, expected: dict, where: str) -> None:
    assert aggregate is not None, f"{where}: not found"
    assert (type(aggregate).TOPIC, aggregate.version) == (expected["topic"], expected["version"]), where
    for name, value in expected["state"].items():
        assert jsonable(getattr(aggregate, name, None)) == value, f"{where}: {name}"


def check_store(towns: Any, rows: dict[str, list[dict]], expect: dict) -> None:
    events = rows["events"]
    # the store gives back the rows as they are, in their order
    notes = towns.recorder.select_notifications(start=1, limit=len(events) + 10)
    assert [(n.id, n.originator_id, n.originator_version, n.topic, n.state) for n in notes] == [
        (r["notification_id"], UUID(r["originator_id"]), r["originator_version"], r["topic"],
         r["state"]) for r in events]
    topics: dict[str, int] = {}
    histories: dict[UUID, list[Any]] = {}
    for note in notes:
        where = f"notification {note.id} ({note.topic} v{note.originator_version})"
        event = decode_exactly(towns, note, where)
        assert not isinstance(towns.decode_stored(note), Exception), f"{where}: the audit's decode"
        topics[note.topic] = topics.get(note.topic, 0) + 1
        histories.setdefault(note.originator_id, []).append(event)
    assert dict(sorted(topics.items())) == expect["event_topics"]

    # every application: its chain holds, its replay ends where it ended
    applications = expect["applications"]
    replayed = {}
    for ref, app in applications.items():
        app_id = UUID(app["id"])
        history = histories[app_id]
        assert all(isinstance(e, Application.Event) for e in history), ref
        assert [e.originator_version for e in history] == list(range(1, len(history) + 1)), ref
        assert first_break(history) is None, ref
        assert towns.verify_application(expect["call_id"], ref) is None, ref
        state = fold(history)
        assert (state.status, state.version, state.last_hash) == (
            app["status"], app["version"], app["last_hash"]), ref
        assert history[-1].hash == app["last_hash"], ref
        check_state(state, expect["aggregates"][app["id"]], f"replay of {ref}")
        replayed[app_id] = history
    assert {str(e.originator_id) for h in histories.values() for e in h
            if isinstance(e, Application.Event)} == {a["id"] for a in applications.values()}

    # every aggregate, through the repository (from the snapshot where there is one)
    assert {str(i) for i in histories} == set(expect["aggregates"])
    for key, expected in expect["aggregates"].items():
        check_state(towns.repository.get(UUID(key)), expected, f"aggregate {key}")

    # the snapshots: decode exactly, and hold the state of their version
    snapshots = rows.get("snapshots", [])
    assert [(str(UUID(r["originator_id"])), r["originator_version"], r["topic"]) for r in snapshots] \
        == [(str(UUID(s["originator_id"])), s["originator_version"], s["topic"])
            for s in expect["snapshots"]]
    for row in snapshots:
        record = stored(row)
        where = f"snapshot {record.originator_id} v{record.originator_version}"
        assert [(s.originator_version, s.topic, s.state)
                for s in towns.snapshots.recorder.select_events(record.originator_id)] == [
            (record.originator_version, record.topic, record.state)], where
        snapshot = decode_exactly(towns, record, where)
        aggregate = snapshot.mutate(None)
        history = replayed.get(record.originator_id) or histories[record.originator_id]
        at_version = fold(history[: record.originator_version])
        assert aggregate.version == record.originator_version, where
        for name in expect["aggregates"][str(record.originator_id)]["state"]:
            assert jsonable(getattr(aggregate, name, None)) == jsonable(
                getattr(at_version, name, None)), f"{where}: {name}"


# -- the tests -----------------------------------------------------------------------------------


def test_there_is_a_generation_of_frozen_rows():
    assert GENERATIONS, f"no frozen rows under {FIXTURES}"


@pytest.mark.parametrize("generation", GENERATIONS)
def test_sqlite_rows_of_the_past_read_the_same_today(generation, config, tmp_path):
    info = manifest(generation)["stores"]["sqlite"]
    path = f"{tmp_path}/towns.db"
    towns = build_towns(config, f"sqlite:///{path}")
    try:
        rows = load_sqlite(path, generation, info)
        check_store(towns, rows, info["expect"])
    finally:
        towns.close()


@pytest.mark.postgres
@pytest.mark.parametrize("generation", GENERATIONS)
def test_postgres_rows_of_the_past_read_the_same_today(generation, config, postgres_schema_url):
    info = manifest(generation)["stores"]["postgres"]
    towns = build_towns(config, postgres_schema_url)
    try:
        rows = load_postgres(postgres_schema_url, generation, info)
        check_store(towns, rows, info["expect"])
    finally:
        towns.close()


STORED_CLASSES = (*EVENT_CLASSES.values(), Application.Snapshot, InboxMessage.Applied,
                  InboxMessage.ConflictSeen, DeadLetter.Recorded, DeadLetter.DeadLetteredAgain,
                  DeadLetter.Requeued, DeadLetter.Resending, DeadLetter.SendFailed,
                  DeadLetter.Published, DeadLetter.GaveUp, ParkedMessage.Parked,
                  ParkedMessage.Reparked, ParkedMessage.Released, DeadlineCheck.Ran,
                  OperatorAction.Taken, Deployment.Started, Deployment.ConfigurationChanged,
                  Deployment.SigningKeyChanged)


def test_every_record_type_the_service_writes_is_frozen_on_both_stores():
    """A new event class needs rows of it frozen (a new generation), so that its format is
    held from the day it is first written."""
    for store in ("sqlite", "postgres"):
        frozen = set()
        for generation in GENERATIONS:
            expect = manifest(generation)["stores"][store]["expect"]
            frozen |= set(expect["event_topics"]) | {s["topic"] for s in expect["snapshots"]}
        missing = sorted({c.TOPIC for c in STORED_CLASSES} - frozen)
        assert not missing, f"{store}: no frozen rows of {missing}: run scripts/freeze_stored_events.py --name gen-N"


# -- the check itself notices a changed format ---------------------------------------------------


CHANGES = {
    # a topic no class has any more (renamed without registering the old one)
    "renamed topic": (lambda topic, state: ("towns:DeadLetter.Written", state),
                      "towns:DeadLetter.Written"),
    # a field the class no longer has
    "renamed field": (lambda topic, state: (topic, state.replace(b'"routing_key"', b'"routing"')),
                      "stored fields the class does not have"),
    # the same values in other bytes: the audit would call it tampered
    "other bytes": (lambda topic, state: (topic, state.replace(b'"code":"', b'"code": "')),
                    "encoding it again changes its bytes"),
}


@pytest.mark.parametrize("change", sorted(CHANGES))
def test_a_changed_format_fails_the_check(change, config, tmp_path):
    generation = GENERATIONS[-1]
    info = manifest(generation)["stores"]["sqlite"]
    path = f"{tmp_path}/towns.db"
    towns = build_towns(config, f"sqlite:///{path}")
    try:
        rows = load_sqlite(path, generation, info)
        row = next(r for r in rows["events"] if r["topic"] == "towns:DeadLetter.Recorded")
        alter, said = CHANGES[change]
        topic, state = alter(row["topic"], row["state"])
        assert (topic, state) != (row["topic"], row["state"])
        row["topic"], row["state"] = topic, state
        conn = sqlite3.connect(path)
        with conn:
            conn.execute(f"UPDATE {info['tables']['events']['name']} SET topic = ?, state = ? "
                         "WHERE rowid = ?", (topic, state, row["notification_id"]))
        conn.close()
        with pytest.raises(Exception, match=said):
            check_store(towns, rows, info["expect"])
    finally:
        towns.close()
