"""The runner and an event a read model cannot take, on SQLite with a fake read model that fails
on the events it is told to: the event is set aside (where, why) in the transaction that moves
the position past it, and everything after it is projected; a store that cannot be used is not
an event's fault and stops the batch; retry and rebuild try set-aside events again."""

from __future__ import annotations

import sqlite3

import psycopg
import pytest
from eventsourcing.persistence import OperationalError

from domain.applications import Application, application_id
from projections import set_aside
from projections.base import Projection
from projections.runner import NotSetAside, ProjectionRunner
from projections.store import ViewStore, unreachable
from tests.desk import Desk
from tests.factories import CALL


class Seen(Projection):
    """A fake read model: a row per event it takes, in the order it takes them. It cannot take
    the events at the positions in ``failing`` (a bug, a record it cannot read); ``broken``
    makes it fail as a store that cannot be used does."""

    name = "seen"
    tables = {"seen": """CREATE TABLE IF NOT EXISTS {name} (
        position BIGINT PRIMARY KEY, topic TEXT NOT NULL, ordinal BIGINT NOT NULL)"""}
    decodes = False

    def __init__(self) -> None:
        self.failing: set[int] = set()
        self.broken: Exception | None = None

    def apply(self, tx, names, batch) -> None:
        table = names["seen"]
        (count,) = tx.one(f"SELECT COUNT(*) FROM {table}")
        for recorded in batch:
            if recorded.position in self.failing:
                raise ValueError(f"cannot take \x00 event {recorded.position}")
            if self.broken is not None and recorded.position in self.broken.at:
                raise self.broken
        tx.insert_many(table, ("position", "topic", "ordinal"),
                       [(r.position, r.topic, count + i) for i, r in enumerate(batch)])


@pytest.fixture
def seen() -> Seen:
    return Seen()


@pytest.fixture
def runner(sqlite_towns, tmp_path, seen):
    store = ViewStore(f"sqlite:///{tmp_path}/towns.db")
    runner = ProjectionRunner(sqlite_towns, store, [seen])
    runner.setup()
    yield runner
    store.close()


def submissions(towns, config, count: int) -> list[int]:
    """``count`` applications submitted; the log position of each submission."""
    desk = Desk(towns, config)
    for i in range(count):
        desk.submit(f"SD-2017-{i:03d}")
    return [n.id for n in towns.recorder.select_notifications(0, 1000)
            if n.topic == Application.Submitted.TOPIC]


def taken(runner) -> list[int]:
    with runner.store.transaction() as tx:
        return [p for (p,) in tx.all("SELECT position FROM seen ORDER BY ordinal")]


def every_position(towns) -> list[int]:
    return [n.id for n in towns.recorder.select_notifications(0, 1000)]


def test_the_event_a_view_cannot_take_is_set_aside_and_everything_after_it_is_projected(
        runner, seen, sqlite_towns, config):
    # Given a log of twelve submissions (and their inbox markers) and a view that cannot take
    # the fifth submission
    positions = submissions(sqlite_towns, config, 12)
    poison = positions[4]
    seen.failing = {poison}
    # When it catches up in batches of four
    runner.catch_up("seen", batch=4)
    # then it is at the head, holds every event but that one, in log order
    head = sqlite_towns.recorder.max_notification_id()
    assert [(s.position, s.head, s.set_aside) for s in runner.status()] == [(head, head, 1)]
    assert taken(runner) == [p for p in every_position(sqlite_towns) if p != poison]
    # and the event is set aside: where it is and why, in one line free of NUL
    [record] = runner.set_aside()
    assert (record.name, record.position, record.topic, record.originator_version) == (
        "seen", poison, Application.Submitted.TOPIC, 1)
    assert record.originator_id == str(application_id(CALL, "SD-2017-004"))
    assert record.reason == f"ValueError: cannot take \ufffd event {poison}"
    assert (record.attempts, record.retried_at, record.open) == (1, None, True)


def test_several_in_one_batch_and_a_whole_batch_of_them(runner, seen, sqlite_towns, config):
    positions = submissions(sqlite_towns, config, 8)
    seen.failing = {positions[1], positions[2], positions[6]}
    runner.catch_up("seen", batch=2)  # a batch of two poison submissions is among them
    assert [r.position for r in runner.set_aside()] == sorted(seen.failing)
    assert taken(runner) == [p for p in every_position(sqlite_towns) if p not in seen.failing]


@pytest.mark.parametrize("error", [sqlite3.OperationalError("database is locked"),
                                   OperationalError("connection lost")])
def test_a_store_that_cannot_be_used_stops_the_batch_and_sets_nothing_aside(
        runner, seen, sqlite_towns, config, error):
    # Given a view whose store fails at the third submission
    positions = submissions(sqlite_towns, config, 6)
    error.at = {positions[2]}
    seen.broken = error
    # when it catches up, the error is raised (the worker tries again later)
    with pytest.raises(type(error)):
        runner.catch_up("seen", batch=100)
    # and nothing moved: no position, no row, nothing set aside
    assert [(s.position, s.set_aside) for s in runner.status()] == [(0, 0)]
    assert taken(runner) == [] and runner.set_aside() == []
    # Once the store works again, every event is taken once
    seen.broken = None
    runner.catch_up("seen", batch=100)
    assert taken(runner) == every_position(sqlite_towns)


def test_the_record_and_the_position_move_together(runner, seen, sqlite_towns, config,
                                                  monkeypatch):
    positions = submissions(sqlite_towns, config, 6)
    seen.failing = {positions[3]}

    def lost(*args, **kwargs):
        raise sqlite3.OperationalError("disk I/O error")

    # When writing the set-aside record fails
    monkeypatch.setattr(set_aside, "record", lost)
    with pytest.raises(sqlite3.OperationalError):
        runner.catch_up("seen", batch=100)
    # then the position did not move past the batch either
    assert [(s.position, s.set_aside) for s in runner.status()] == [(0, 0)]
    monkeypatch.undo()
    runner.catch_up("seen", batch=100)
    assert [r.position for r in runner.set_aside()] == [positions[3]]
    assert taken(runner) == [p for p in every_position(sqlite_towns) if p != positions[3]]


def test_retry_keeps_what_still_fails_and_takes_what_now_applies_in_log_order(
        runner, seen, sqlite_towns, config):
    positions = submissions(sqlite_towns, config, 6)
    poison = positions[2]
    seen.failing = {poison}
    runner.catch_up("seen")
    # When it is retried while the view still cannot take it
    done = runner.retry("seen")
    # then it stays set aside with one attempt more, and nothing was rebuilt
    assert (done.tried, done.taken, done.still, done.rebuilt) == ([poison], [], [poison], False)
    [record] = runner.set_aside()
    assert (record.attempts, record.open) == (2, True)
    # When the view is mended and it is retried
    seen.failing = set()
    done = runner.retry("seen", poison)
    # then the view was rebuilt and holds it in its place in the log, and its record is taken
    assert (done.taken, done.still, done.rebuilt) == ([poison], [], True)
    assert taken(runner) == every_position(sqlite_towns)
    assert runner.set_aside() == []
    [record] = runner.set_aside(open_only=False)
    assert (record.attempts, record.open) == (2, False) and record.retried_at
    assert runner.status()[0].set_aside == 0
    # and a position with nothing set aside is refused
    with pytest.raises(NotSetAside):
        runner.retry("seen", positions[0])


def test_a_rebuild_sets_aside_the_same_way_and_its_records_become_the_live_ones(
        runner, seen, sqlite_towns, config):
    positions = submissions(sqlite_towns, config, 6)
    seen.failing = {positions[1]}
    runner.catch_up("seen")
    # A rebuild that still cannot take it (and cannot take another one either)
    seen.failing = {positions[1], positions[4]}
    head = runner.rebuild("seen", batch=3)
    assert head == sqlite_towns.recorder.max_notification_id()
    found = runner.set_aside(open_only=False)
    assert [(r.name, r.position, r.attempts, r.open) for r in found] == [
        ("seen", positions[1], 2, True), ("seen", positions[4], 1, True)]
    assert taken(runner) == [p for p in every_position(sqlite_towns) if p not in seen.failing]
    # A rebuild that takes them marks their records taken
    seen.failing = set()
    runner.rebuild("seen")
    assert runner.set_aside() == [] and taken(runner) == every_position(sqlite_towns)
    assert all(not r.open for r in runner.set_aside(open_only=False))


def test_a_reason_is_bounded_and_storable():
    line = set_aside.reason_of(ValueError("a\x00b\n" + "\ud800" + "x" * 2000))
    assert line.startswith("ValueError: a\ufffdb ?x") and len(line) == set_aside.REASON_CHARS
    assert "\x00" not in line and line.encode("utf-8")


def test_the_deadline_check_still_checks_an_application_the_report_set_aside(
        config, tmp_path, monkeypatch):
    from adapters.bootstrap import build_runtime
    from adapters.inbound.ingest import ingest
    from projections.applications import DeadlineReport
    from tests.factories import encode, envelope

    # Given a deadline report that cannot take the events of one application, never
    # recommended, and another like it
    aside = application_id(CALL, "SD-ASIDE-001")
    apply = DeadlineReport.apply

    def failing(self, tx, names, batch):
        if any(str(r.originator_id) == str(aside) for r in batch):
            raise ValueError("the report cannot take it")
        apply(self, tx, names, batch)

    monkeypatch.setattr(DeadlineReport, "apply", failing)
    runtime = build_runtime(config, f"sqlite:///{tmp_path}/towns.db")
    try:
        for ref in ("SD-ASIDE-001", "SD-SHORT-001"):
            ingest(runtime.towns, encode(envelope("application.submitted", ref)),
                   config.principals["shunde-applicant"])
        runtime.drain()
        assert [r.originator_id for r in runtime.runner.set_aside()] == [str(aside)]
        # When the deadline check comes due and the worker runs it
        call = config.calls[CALL]
        runtime.schedule.tick(call.check_due_at)
        runtime.drain()
        # then both lapsed: the one the report could not show was checked all the same
        assert runtime.towns.application(CALL, "SD-ASIDE-001").status == "lapsed"
        assert runtime.towns.application(CALL, "SD-SHORT-001").status == "lapsed"
    finally:
        runtime.close()


@pytest.mark.parametrize("error, store_s", [
    (sqlite3.OperationalError("database is locked"), True),
    (sqlite3.DatabaseError("database disk image is malformed"), True),
    (OperationalError("connection lost"), True),
    (psycopg.errors.AdminShutdown("terminating connection"), True),
    (psycopg.errors.ReadOnlySqlTransaction("a hot standby"), True),
    (OSError("disk full"), True),
    (psycopg.DataError("PostgreSQL text fields cannot contain NUL (0x00) bytes"), False),
    (psycopg.errors.ProgramLimitExceeded("index row size exceeds maximum"), False),
    (sqlite3.IntegrityError("UNIQUE constraint failed"), False),
    (ValueError("no such state"), False),
    (KeyError("town_name"), False),
])
def test_what_is_the_store_s_failure_and_what_an_event_s(error, store_s):
    assert unreachable(error) is store_s
