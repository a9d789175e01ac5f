"""Catching the views up in a worker (``workers.projecting``): ``project_all`` catches every
view up in its own thread, the summaries first, sending no message per view; a view a full
batch behind, a message past its time and a view that fails go on in ``project`` messages of
their own; a nudge for a view another thread is catching up has that thread pass once more;
the store away ends the message; the audit view at the head has its head signed."""

from __future__ import annotations

import threading

import psycopg
import pytest

from projections.runner import BATCH
from workers import context, projecting
from workers.store_wait import StoreWait


class Runner:
    """Hands out, per view, the counts ``run_once`` answers in turn (then 0); an exception in
    the list is raised; a count as ``Short(n)`` is a step that reached the head."""

    def __init__(self, **counts) -> None:
        self.projections = dict.fromkeys(("summaries", "deadline_report", "audit", "pipeline"))
        self.counts = {name: list(counts.get(name, [])) for name in self.projections}
        self.calls: list[str] = []
        self.short: dict[str, bool] = {}

    def run_once(self, name):
        self.calls.append(name)
        answer = self.counts[name].pop(0) if self.counts[name] else 0
        if isinstance(answer, Exception):
            raise answer
        self.short[name] = isinstance(answer, Short)
        return int(answer)

    def at_head(self, name):
        return self.short.get(name, False)


class Short(int):
    """A count whose step reached the log's head (its page was short)."""


class Evidence:
    def __init__(self) -> None:
        self.signed = 0

    def sign_if_due(self, force=False):
        self.signed += 1


@pytest.fixture
def runtime():
    def make(runner: Runner, store_wait: StoreWait | None = None):
        installed = context.install(None, runner, None, None, evidence=Evidence())
        installed.store_wait = store_wait
        return installed

    yield make
    if (installed := context.installed()) is not None:
        context.uninstall(installed)


def test_a_step_that_reaches_the_head_ends_the_catch_up_without_a_pass_finding_nothing(runtime):
    runner = Runner(summaries=[500, Short(3)], audit=[Short(2)])
    rt, sent = runtime(runner), []
    projecting.project_all(rt, sent.append)
    assert runner.calls == ["summaries"] * 2 + ["deadline_report", "audit", "pipeline"]
    assert sent == []


def test_project_all_catches_every_view_up_here_the_summaries_first(runtime):
    runner = Runner(summaries=[3, 1], audit=[2])
    rt, sent = runtime(runner), []
    projecting.project_all(rt, sent.append)
    assert runner.calls == ["summaries"] * 3 + ["deadline_report"] + ["audit"] * 2 + ["pipeline"]
    assert sent == []
    assert rt.evidence.signed == 1


def test_a_view_a_full_batch_behind_goes_on_in_a_message_of_its_own(runtime):
    runner = Runner(deadline_report=[BATCH, BATCH])
    rt, sent = runtime(runner), []
    projecting.project_all(rt, sent.append)
    assert sent == ["deadline_report"]
    assert runner.calls.count("deadline_report") == 1
    # its own message goes on with whole batches
    sent.clear()
    projecting.project(rt, "deadline_report", sent.append)
    assert sent == [] and runner.calls.count("deadline_report") == 3


def test_past_its_time_a_message_hands_the_rest_on(runtime, monkeypatch):
    monkeypatch.setattr(projecting, "CATCH_UP_SECONDS", -1.0)
    runner = Runner(summaries=[5])
    rt, sent = runtime(runner), []
    projecting.project_all(rt, sent.append)
    assert sent == ["summaries", "deadline_report", "audit", "pipeline"]
    assert runner.calls == []


def test_a_nudge_for_a_view_in_hand_makes_the_holder_pass_once_more(runtime):
    entered, release = threading.Event(), threading.Event()

    class Slow(Runner):
        def run_once(self, name):
            if name == "summaries" and not release.is_set():
                entered.set()
                release.wait(5)
            return super().run_once(name)

    runner = Slow()
    rt, sent = runtime(runner), []
    holder = threading.Thread(target=projecting.project, args=(rt, "summaries", sent.append))
    holder.start()
    assert entered.wait(5)
    projecting.project_all(rt, sent.append)  # summaries in hand: the others only
    assert "summaries" not in runner.calls
    release.set()
    holder.join(5)
    assert runner.calls.count("summaries") == 2  # the holder's pass and one more
    projecting.project(rt, "summaries", sent.append)  # the turn was given up
    assert runner.calls.count("summaries") == 3 and sent == []


def test_the_store_away_ends_project_all_said_in_the_log(runtime, caplog):
    runner = Runner(summaries=[psycopg.OperationalError("server closed the connection")])
    rt, sent = runtime(runner, StoreWait()), []
    projecting.project_all(rt, sent.append)
    assert runner.calls == ["summaries"] and sent == []
    assert any(m.startswith("waiting for the store") for m in caplog.messages)
    # without a beat, it fails the message for dramatiq to retry
    rt = runtime(Runner(summaries=[psycopg.OperationalError("gone")]))
    with pytest.raises(psycopg.OperationalError):
        projecting.project_all(rt, sent.append)
    projecting.project(rt, "summaries", sent.append)  # the turn was given up


def test_a_view_that_fails_goes_on_in_a_message_of_its_own_and_the_others_catch_up(runtime):
    runner = Runner(summaries=[RuntimeError("a bug")], pipeline=[2])
    rt, sent = runtime(runner), []
    projecting.project_all(rt, sent.append)
    assert sent == ["summaries"]
    assert runner.calls == ["summaries", "deadline_report", "audit", "pipeline", "pipeline"]
