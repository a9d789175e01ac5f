"""The deadline scheduler on SQLite with a fake clock and a fake sender: what is due is sent,
exactly at cutoff + grace and not a second before, once until it is done, by one scheduler at
a time; a changed cutoff is a new check."""

from __future__ import annotations

import fcntl
from datetime import datetime, timedelta, timezone

import pytest

from domain.calls import Call
from projections.store import ViewStore
from workers.deadlines import DONE, PENDING, SENT, DeadlineSchedule

CST = timezone(timedelta(hours=8))
CUTOFF = datetime(2017, 3, 30, 23, 59, 59, tzinfo=CST)
CALL = Call("GD-ITOWN-2017-B2", "second batch", "notice", CUTOFF, grace_seconds=86400)
DUE = CUTOFF + timedelta(days=1)
SECOND = timedelta(seconds=1)


class Sender:
    def __init__(self) -> None:
        self.sent: list[tuple[str, str]] = []

    def __call__(self, call_id: str, cutoff: str) -> None:
        self.sent.append((call_id, cutoff))


@pytest.fixture
def store(tmp_path) -> ViewStore:
    store = ViewStore(f"sqlite:///{tmp_path}/views.db")
    yield store
    store.close()


@pytest.fixture
def sender() -> Sender:
    return Sender()


@pytest.fixture
def schedule(store: ViewStore, sender: Sender) -> DeadlineSchedule:
    schedule = DeadlineSchedule(store, sender, resend_after=timedelta(minutes=1))
    schedule.setup()
    schedule.plan([CALL])
    return schedule


def key(call: Call = CALL) -> tuple[str, str]:
    return call.id, call.cutoff.isoformat()


def test_nothing_is_sent_a_second_before_cutoff_plus_grace_and_the_check_at_it(schedule, sender):
    # Given the 2017 call planned, when the clock stands one second before cutoff + grace
    assert schedule.tick(DUE - SECOND) == []
    # then nothing is sent and the check is pending
    assert sender.sent == [] and schedule.rows()[0].state == PENDING
    # when it reaches cutoff + grace (in another offset: instants, not texts, compare)
    assert schedule.tick(DUE.astimezone(timezone.utc)) == [key()]
    # then the check is sent once and marked sent
    assert sender.sent == [key()]
    assert schedule.rows()[0].state == SENT


def test_the_first_tick_after_years_of_downtime_catches_the_check_up(schedule, sender):
    # Given nothing ran since 2017, the first tick at start sends the overdue check
    assert schedule.tick(datetime(2026, 1, 1, tzinfo=timezone.utc)) == [key()]
    assert sender.sent == [key()]


def test_a_sent_check_is_sent_again_only_after_resend_after_and_never_once_done(schedule, sender):
    schedule.tick(DUE)
    # Given a check sent and not done, the next ticks within a minute send nothing
    assert schedule.tick(DUE + 30 * SECOND) == []
    # a lost message or a crashed worker: a minute later it is sent again
    assert schedule.tick(DUE + 61 * SECOND) == [key()]
    # once the actor has marked it done, it is never sent again
    schedule.done(CALL.id, CALL.cutoff.isoformat(), DUE + 62 * SECOND)
    assert schedule.tick(DUE + timedelta(days=30)) == []
    assert sender.sent == [key(), key()]
    row = schedule.rows()[0]
    assert row.state == DONE and row.done_at.startswith("2017-03-31T16:01:01")


def test_planning_again_is_idempotent_and_a_changed_cutoff_is_a_new_check(schedule, sender):
    # Given the check already done for the first cutoff
    schedule.tick(DUE)
    schedule.done(CALL.id, CALL.cutoff.isoformat(), DUE)
    # when the service starts again with the same configuration, nothing changes
    schedule.plan([CALL])
    assert [(r.cutoff, r.state) for r in schedule.rows()] == [(CALL.cutoff.isoformat(), DONE)]
    # when the call's cutoff moves a week later, it is a new row, due a week later
    later = Call(CALL.id, CALL.title, CALL.notice, CUTOFF + timedelta(days=7), 86400)
    schedule.plan([later])
    assert [r.state for r in schedule.rows()] == [DONE, PENDING]
    assert schedule.tick(DUE + timedelta(days=7) - SECOND) == []
    assert schedule.tick(DUE + timedelta(days=7)) == [key(later)]
    # and the old cutoff, no longer configured, is never sent
    assert sender.sent == [key(), key(later)]


def test_a_changed_grace_moves_the_check(schedule, sender):
    longer = Call(CALL.id, CALL.title, CALL.notice, CUTOFF, grace_seconds=2 * 86400)
    schedule.plan([longer])
    assert len(schedule.rows()) == 1
    assert schedule.tick(DUE) == []
    assert schedule.tick(DUE + timedelta(days=1)) == [key()]


def test_one_scheduler_at_a_time(schedule, store, sender):
    # Given another scheduler's tick holds the scheduler lock (on SQLite, a file lock)
    with open(store.lock_path("scheduler"), "a+") as held:
        fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)
        # when this one ticks, it skips without sending
        assert schedule.tick(DUE) is None
        assert sender.sent == [] and schedule.rows()[0].state == PENDING
    # and once the lock is free it sends
    assert schedule.tick(DUE) == [key()]


def test_a_send_that_fails_leaves_the_check_due(schedule, store):
    def broken(call_id: str, cutoff: str) -> None:
        raise ConnectionError("broker down")

    failing = DeadlineSchedule(store, broken)
    failing.plan([CALL])
    with pytest.raises(ConnectionError):
        failing.tick(DUE)
    assert schedule.rows()[0].state == PENDING
    assert schedule.tick(DUE) == [key()]
