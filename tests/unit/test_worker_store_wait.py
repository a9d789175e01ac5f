"""``towns worker`` while the store does not answer: its beat says so at once, again now and
then, and once when the store answers, sending no nudge meanwhile and one as soon as it
answers; a projection message that meets the store away ends, said in the log, instead of
failing into dramatiq's retries. A failure that is not the store's is still raised."""

from __future__ import annotations

import logging
import time

import psycopg
import pytest

from workers import context
from workers.broker import setup_broker
from workers.store_wait import StoreWait
from workers.ticker import Ticker


class Schedule:
    """A deadline schedule whose tick fails while ``down``."""

    def __init__(self) -> None:
        self.down = True

    def tick(self, now):
        if self.down:
            raise psycopg.OperationalError("connection refused")
        return []


def said(caplog, start: str) -> int:
    return sum(1 for m in caplog.messages if m.startswith(start))


def test_the_beat_waits_for_the_store_saying_so_and_nudges_once_it_answers(caplog):
    caplog.set_level(logging.INFO, "towns.worker")
    schedule, nudges = Schedule(), []
    ticker = Ticker(schedule, lambda: nudges.append(1), every=1, store_wait=StoreWait(every=0.05))
    # While the store does not answer, beat after beat
    for _ in range(3):
        ticker.beat()
    # then the wait is said once, no nudge is sent, and no traceback is logged
    assert said(caplog, "waiting for the store: it does not answer") == 1
    assert nudges == []
    assert not any(r.exc_info for r in caplog.records)
    # and said again once a while has passed
    time.sleep(0.06)
    ticker.beat()
    assert said(caplog, "still waiting for the store after") == 1
    # When it answers, the next beat says so once and nudges the projections
    schedule.down = False
    ticker.beat()
    ticker.beat()
    assert said(caplog, "the store answers again") == 1
    assert nudges == [1, 1]


def test_a_failure_that_is_not_the_stores_is_logged_as_one_and_the_nudge_still_sent(caplog):
    class Broken:
        def tick(self, now):
            raise ValueError("a bug")

    nudges = []
    Ticker(Broken(), lambda: nudges.append(1), every=1, store_wait=StoreWait()).beat()
    assert said(caplog, "deadline scheduler tick failed") == 1
    assert said(caplog, "waiting for the store") == 0
    assert nudges == [1]


class Runner:
    projections = {"summaries": None}

    def __init__(self, error: Exception) -> None:
        self.error = error

    def run_once(self, name):
        raise self.error


@pytest.fixture
def actors():
    setup_broker(None)
    from workers import actors

    yield actors
    if (installed := context.installed()) is not None:
        context.uninstall(installed)


def install(runner: Runner, store_wait: StoreWait | None) -> None:
    installed = context.install(None, runner, None, None)
    installed.store_wait = store_wait


def test_a_projection_message_meeting_the_store_away_ends_said_in_the_log(actors, caplog):
    caplog.set_level(logging.INFO, "towns.worker")
    install(Runner(psycopg.OperationalError("server closed the connection")), StoreWait())
    actors.project.fn("summaries")  # ends: the beat nudges again once the store answers
    assert said(caplog, "waiting for the store: it does not answer") == 1


def test_without_a_beat_the_projection_message_fails_for_dramatiq_to_retry(actors):
    install(Runner(psycopg.OperationalError("server closed the connection")), None)
    with pytest.raises(psycopg.OperationalError):
        actors.project.fn("summaries")


def test_a_failure_that_is_not_the_stores_fails_the_projection_message(actors):
    install(Runner(RuntimeError("a bug")), StoreWait())
    with pytest.raises(RuntimeError):
        actors.project.fn("summaries")
