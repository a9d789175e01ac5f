"""The service's recorders (adapters.store.recorders). On the real PostgreSQL, against the library's
own: the same stored events give the same rows, byte for byte, and the same notification order;
a second event at a version refuses the whole transaction, as the library's does. On both
stores: a save on condition that an aggregate is absent records nothing when it is present, and
a submission saved that way while another process runs the deadline check still lapses."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator

import psycopg
import pytest
from eventsourcing.persistence import IntegrityError, StoredEvent
from eventsourcing.postgres import PostgresApplicationRecorder

from adapters.bootstrap import build_towns, library_settings, store_settings
from adapters.store.recorders import PostgresRecorder, writers_lock_key
from adapters.store.sqlite_recorder import SQLiteRecorder
from adapters.inbound.ingest import ingest
from domain.applications import application_id
from domain.service import Towns
from domain.work import PresentAggregate
from projections.database_url import PostgresUrl
from tests.factories import at, encode
from tests.support import fresh_schema
from tests.factories import CALL, envelope


@pytest.fixture
def two_schemas(postgres_url: str) -> Iterator[tuple[str, str]]:
    with fresh_schema(postgres_url) as first, fresh_schema(postgres_url) as second:
        yield first, second


def recorder_of(config, url: str, library: bool) -> Towns:
    return Towns(config.calls, env=(library_settings if library else store_settings)(url))


def stored_events(count: int) -> list[StoredEvent]:
    """Events of several aggregates, states of many sizes and every byte value."""
    ids = [uuid.uuid4() for _ in range(3)]
    return [
        StoredEvent(
            originator_id=ids[i % 3],
            originator_version=i // 3 + 1,
            topic=f"towns:Application.Event{i % 5}",
            state=bytes(range(256)) * (i % 4) + f'{{"n": {i}, "t": "镇"}}'.encode(),
        )
        for i in range(count)
    ]


def rows(url: str) -> list[tuple]:
    target = PostgresUrl.parse(url)
    schema = target.schema
    with psycopg.connect(target.conninfo()) as conn:
        return conn.execute(
            f"SELECT originator_id, originator_version, topic, state, notification_id "
            f"FROM {schema}.towns_events ORDER BY notification_id"
        ).fetchall()


def test_the_service_uses_the_columnar_recorder(config, postgres_schema_url):
    towns = build_towns(config, postgres_schema_url)
    try:
        assert type(towns.recorder) is PostgresRecorder
    finally:
        towns.close()


def test_the_same_events_give_the_same_rows_as_the_librarys_recorder(config, two_schemas):
    ours_url, library_url = two_schemas
    ours, library = recorder_of(config, ours_url, False), recorder_of(config, library_url, True)
    try:
        assert type(library.recorder) is PostgresApplicationRecorder
        events = stored_events(30)
        ids_ours, ids_library = [], []
        for batch in (events[:1], events[1:2], events[2:17], events[17:]):
            ids_ours += ours.recorder.insert_events(batch)
            ids_library += library.recorder.insert_events(batch)
        assert ids_ours == ids_library == list(range(1, 31))
        assert rows(ours_url) == rows(library_url)
        assert [bytes(r[3]) for r in rows(ours_url)] == [e.state for e in events]
    finally:
        ours.close()
        library.close()


def test_a_second_event_at_a_version_refuses_the_whole_transaction(config, postgres_schema_url):
    towns = build_towns(config, postgres_schema_url)
    try:
        first = stored_events(6)
        towns.recorder.insert_events(first[:3])
        clash = StoredEvent(first[0].originator_id, 1, "towns:Clash", b"{}")
        with pytest.raises(IntegrityError):
            towns.recorder.insert_events([first[3], clash])
        assert len(rows(postgres_schema_url)) == 3
        towns.recorder.insert_events(first[3:])
        assert [r[1] for r in rows(postgres_schema_url)] == [1, 1, 1, 2, 2, 2]
    finally:
        towns.close()


# -- the writers' lock ----------------------------------------------------------------------------


def _store_in_thread(towns: Towns, events: list[StoredEvent]) -> tuple[threading.Thread, list]:
    done: list = []
    writer = threading.Thread(target=lambda: done.append(towns.recorder.insert_events(events)))
    writer.start()
    return writer, done


def test_a_writer_is_not_held_by_a_vacuum_or_analysis_of_the_events_table(config, postgres_schema_url):
    """VACUUM and ANALYZE hold SHARE UPDATE EXCLUSIVE on the table they work on; the library's
    EXCLUSIVE table lock waited for it, the writers' advisory lock does not."""
    towns = build_towns(config, postgres_schema_url)
    target = PostgresUrl.parse(postgres_schema_url)
    try:
        towns.recorder.insert_events(stored_events(3))
        with psycopg.connect(target.conninfo()) as vacuum:
            vacuum.execute(f"LOCK TABLE {target.schema}.towns_events IN SHARE UPDATE EXCLUSIVE MODE")
            writer, done = _store_in_thread(towns, stored_events(3))
            writer.join(30)
            stored_meanwhile = bool(done)
        writer.join(30)
        assert stored_meanwhile, "the write waited for the vacuum's lock"
        assert len(done[0]) == 3 and len(rows(postgres_schema_url)) == 6
    finally:
        towns.close()


def _waiting_for(conn: psycopg.Connection, key: int) -> int:
    """Sessions waiting for the advisory lock ``key`` (a bigint lock: its high and low halves)."""
    row = conn.execute(
        "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted "
        "AND classid = %s::bigint::oid AND objid = %s::bigint::oid AND objsubid = 1",
        ((key >> 32) & 0xFFFFFFFF, key & 0xFFFFFFFF)).fetchone()
    return row[0]


def test_writers_wait_for_the_writers_lock_of_their_table_and_no_other(config, postgres_schema_url):
    """Every transaction that stores events holds the lock of its own schema's events table
    until it ends: a second writer waits for it (commit order is notification order); the lock
    of another schema's table holds nobody."""
    towns = build_towns(config, postgres_schema_url)
    target = PostgresUrl.parse(postgres_schema_url)
    ours = writers_lock_key(target.schema, "towns_events")
    assert len({ours, writers_lock_key(target.schema, "other_events"),
                writers_lock_key(target.schema + "x", "towns_events")}) == 3
    try:
        with psycopg.connect(target.conninfo()) as holder:
            holder.execute("SELECT pg_advisory_xact_lock(%s)",
                           (writers_lock_key(target.schema + "x", "towns_events"),))
            writer, done = _store_in_thread(towns, stored_events(3))
            writer.join(30)
            assert done, "the write waited for another schema's lock"
            holder.execute("SELECT pg_advisory_xact_lock(%s)", (ours,))
            writer, done = _store_in_thread(towns, stored_events(3))
            for _ in range(600):
                if _waiting_for(holder, ours) or not writer.is_alive():
                    break
                time.sleep(0.05)
            assert _waiting_for(holder, ours) == 1 and not done, "the write did not wait"
            assert len(rows(postgres_schema_url)) == 3
        writer.join(30)  # the holder's transaction ended with its connection
        assert done and len(done[0]) == 3 and len(rows(postgres_schema_url)) == 6
    finally:
        towns.close()


def test_an_application_written_by_the_service_reads_back(config, postgres_schema_url):
    towns = build_towns(config, postgres_schema_url)
    try:
        ingest(towns, encode(envelope("application.submitted")), config.principals["shunde-applicant"])
        app = towns.repository.get(application_id(CALL, "SD-2017-001"))
        assert app.status == "submitted" and app.town_name == "Beijiao Town (北滘镇)"
    finally:
        towns.close()


# -- saves on condition, both stores -------------------------------------------------------------


def test_the_service_saves_on_condition_on_both_stores(config, store_url):
    towns = build_towns(config, store_url)
    try:
        assert type(towns.recorder) in (PostgresRecorder, SQLiteRecorder)
        assert towns.saves_on_condition
    finally:
        towns.close()


def test_a_save_on_condition_records_nothing_when_the_aggregate_exists(config, store_url):
    towns = build_towns(config, store_url)
    try:
        events = stored_events(6)
        guard = events[0].originator_id
        # absent: recorded
        assert len(towns.recorder.insert_events(events[1:2], absent=[guard])) == 1
        towns.recorder.insert_events(events[:1])
        # present (at any version): refused, nothing of the transaction kept
        with pytest.raises(PresentAggregate):
            towns.recorder.insert_events(events[2:5], absent=[uuid.uuid4(), guard])
        recorded = towns.recorder.select_notifications(start=1, limit=10)
        assert [(n.originator_id, n.originator_version) for n in recorded] == [
            (e.originator_id, e.originator_version) for e in (events[1], events[0])
        ]
    finally:
        towns.close()


def test_a_submission_lapses_when_another_process_ran_the_check_unseen(config, store_url):
    """The process that takes the submission has never seen the check run and does not read
    it first; its save finds the check under the write lock and decides again."""
    intake, checker = build_towns(config, store_url), build_towns(config, store_url)
    try:
        submit = lambda ref: ingest(  # noqa: E731
            intake,
            encode(envelope("application.submitted", ref, occurred_at=at(20))),
            config.principals["shunde-applicant"],
        )
        assert submit("SD-2017-001").status == "submitted"  # the check has not run yet
        run = checker.check_deadline(CALL, deadline_due(config))
        assert run.first_run and run.lapsed == ["SD-2017-001"]
        late = submit("SD-2017-002")
        assert (late.status, late.version) == ("lapsed", 2)
        assert intake.application(CALL, "SD-2017-002").status == "lapsed"
        assert submit("SD-2017-003").status == "lapsed"  # known now: decided at once
    finally:
        intake.close()
        checker.close()


def deadline_due(config):
    return config.calls[CALL].check_due_at


# -- many aggregates at once ---------------------------------------------------------------------


def test_many_applications_read_at_once_equal_those_read_one_by_one(config, store_url):
    from tests.desk import Desk

    towns = build_towns(config, store_url)
    try:
        desk = Desk(towns, config)
        desk.to_recommended("SD-2017-001")
        desk.submit("SD-2017-002")
        for _ in range(26):  # past the snapshot interval of 50 events
            desk.city("application.returned", "SD-2017-002")
            desk.applicant("application.resubmitted", "SD-2017-002")
        ids = [application_id(CALL, ref) for ref in ("SD-2017-001", "SD-2017-002", "SD-2017-404")]
        assert towns.snapshots is not None and list(towns.snapshots.get(ids[1]))
        folded = towns.reader.read_many(ids)
        assert folded[ids[2]] is None
        for app_id in ids[:2]:
            one = towns.repository.get(app_id)
            assert folded[app_id] == one and folded[app_id].version == one.version
        assert folded[ids[1]].version == 53
        firsts = towns.recorder.select_events_of(ids, first_only=True)
        assert sorted((e.originator_id, e.originator_version) for e in firsts) == sorted(
            (app_id, 1) for app_id in ids[:2])
    finally:
        towns.close()
