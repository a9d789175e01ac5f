"""The worker's catch-up deadline check waits for the inbound backlog: a check already due at
the first beat is not sent while the probe says messages wait, goes once the backlog is applied
(said twice in a row) or once the bounded wait is over, says in the log what it waits for, and
checks that come due later, while the worker runs, are never held. Fake probe, fake clocks, the
real schedule on SQLite."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta, timezone

import pytest

from domain.calls import Call
from projections.store import ViewStore
from workers.catch_up import BacklogWait, wait_from_env
from workers.deadlines import DeadlineSchedule
from workers.ticker import Ticker

CST = timezone(timedelta(hours=8))
CUTOFF = datetime(2017, 3, 30, 23, 59, 59, tzinfo=CST)
PAST = Call("GD-ITOWN-2017-B2", "second batch", "notice", CUTOFF, grace_seconds=86400)
NOW = datetime(2026, 12, 7, tzinfo=timezone.utc)


class Probe:
    """Says what waits (``pending``) and counts how often it was asked."""

    def __init__(self, pending: str | None = "120 messages ready in towns.inbound") -> None:
        self.pending = pending
        self.asked = 0

    def __call__(self) -> str | None:
        self.asked += 1
        return self.pending


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def store(tmp_path):
    store = ViewStore(f"sqlite:///{tmp_path}/views.db")
    yield store
    store.close()


def worker(store, calls, probe, clock, wait=300.0, now=NOW):
    sent: list[tuple[str, str]] = []
    schedule = DeadlineSchedule(store, lambda call, cutoff: sent.append((call, cutoff)))
    schedule.setup()
    schedule.plan(calls)
    times = {"now": now}
    ticker = Ticker(schedule, lambda: None, every=5, clock=lambda: times["now"],
                    catch_up=BacklogWait(probe, wait, clock=clock))
    return ticker, sent, times


def test_the_catch_up_check_waits_until_the_backlog_is_applied(store, caplog):
    caplog.set_level(logging.INFO, "towns.worker")
    probe, clock = Probe(), Clock()
    ticker, sent, _ = worker(store, [PAST], probe, clock)
    # Given a call long past and messages waiting in the inbound queue, beat after beat
    for _ in range(3):
        ticker.beat()
        clock.now += 5
    # then its check is not sent, and the log says what it waits for
    assert sent == []
    assert any("held until the inbound backlog is applied (120 messages ready in towns.inbound)"
               in m for m in caplog.messages)
    # When the backlog is applied, it goes once that has been seen on two beats in a row
    probe.pending = None
    ticker.beat()
    assert sent == []
    clock.now += 5
    ticker.beat()
    assert sent == [(PAST.id, PAST.cutoff.isoformat())]
    assert any(m.startswith("inbound backlog applied") for m in caplog.messages)


def test_a_backlog_that_empties_and_fills_again_is_not_taken_for_applied(store):
    probe, clock = Probe(None), Clock()
    ticker, sent, _ = worker(store, [PAST], probe, clock)
    ticker.beat()
    probe.pending = "3 parked messages"
    ticker.beat()
    probe.pending = None
    ticker.beat()
    assert sent == []
    ticker.beat()
    assert sent == [(PAST.id, PAST.cutoff.isoformat())]


def test_the_wait_is_bounded_and_says_it_sent_the_check_regardless(store, caplog):
    caplog.set_level(logging.INFO, "towns.worker")
    probe, clock = Probe("7 parked messages"), Clock()
    ticker, sent, _ = worker(store, [PAST], probe, clock, wait=300)
    # Given a backlog that never empties
    ticker.beat()
    clock.now = 299
    ticker.beat()
    assert sent == []
    # when the bounded wait is over, the check goes all the same, said as a warning
    clock.now = 300
    ticker.beat()
    assert sent == [(PAST.id, PAST.cutoff.isoformat())]
    warned = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warned) == 1 and "7 parked messages" in warned[0].getMessage()


def test_a_probe_that_fails_holds_the_check_within_the_bound_without_a_traceback(store, caplog):
    caplog.set_level(logging.INFO, "towns.worker")

    def broken():
        raise ConnectionError("RabbitMQ does not answer")

    clock = Clock()
    ticker, sent, _ = worker(store, [PAST], broken, clock, wait=60)
    ticker.beat()
    assert sent == []
    assert any("the backlog cannot be read (RabbitMQ does not answer)" in m for m in caplog.messages)
    assert not any(r.exc_info for r in caplog.records)
    clock.now = 60
    ticker.beat()
    assert sent == [(PAST.id, PAST.cutoff.isoformat())]


def test_a_check_that_comes_due_while_the_worker_runs_is_not_held(store):
    # Given a call whose check is not due at the worker's first beat
    due = PAST.check_due_at.astimezone(timezone.utc)
    probe, clock = Probe(), Clock()
    ticker, sent, times = worker(store, [PAST], probe, clock, now=due - timedelta(hours=1))
    ticker.beat()
    assert sent == [] and probe.asked == 0
    # when it comes due later, with messages in the queue, it is sent at once
    times["now"] = due
    ticker.beat()
    assert sent == [(PAST.id, PAST.cutoff.isoformat())]
    assert probe.asked == 0


def test_the_wait_is_read_from_the_environment(monkeypatch):
    monkeypatch.delenv("TOWNS_CATCH_UP_WAIT", raising=False)
    assert wait_from_env() == 300
    monkeypatch.setenv("TOWNS_CATCH_UP_WAIT", "12.5")
    assert wait_from_env() == 12.5
    for wrong in ("soon", "-1"):
        monkeypatch.setenv("TOWNS_CATCH_UP_WAIT", wrong)
        with pytest.raises(ValueError, match="TOWNS_CATCH_UP_WAIT"):
            wait_from_env()
