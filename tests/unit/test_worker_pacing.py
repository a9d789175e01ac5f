"""Pacing the views that need not follow every commit at once (``workers.pacing``): a paced
view nudged again sooner than its pace after its last step is left to one message, sent when
the pace allows; an idle one, and a view that is not paced, catch up at once."""

from __future__ import annotations

import threading
import time

from workers import projecting
from workers.pacing import PACE, Pacer
from tests.unit.test_worker_projecting import Runner, Short, runtime  # noqa: F401 - fixture


class Sent:
    """The messages the pacer sends, with when; ``fail`` raises on the next send."""

    def __init__(self) -> None:
        self.names: list[str] = []
        self.fail = False
        self.event = threading.Event()

    def __call__(self, name: str) -> None:
        if self.fail:
            self.fail = False
            raise ConnectionError("the broker is away")
        self.names.append(name)
        self.event.set()


def wait_for(condition, timeout: float = 5.0) -> bool:
    end = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > end:
            return False
        time.sleep(0.01)
    return True


def test_the_summaries_follow_every_nudge_and_the_others_are_paced():
    assert "summaries" not in PACE
    assert set(PACE) == {"deadline_report", "audit", "pipeline"}
    assert all(0 < pace <= 1 for pace in PACE.values())


def test_an_idle_view_catches_up_at_once_and_one_nudged_too_soon_is_owed_one_message():
    sent = Sent()
    pacer = Pacer(sent, {"audit": 0.2})
    try:
        assert not pacer.defer("audit")  # never stepped: now
        pacer.began("audit")
        started = time.monotonic()
        assert pacer.defer("audit") and pacer.defer("audit")  # twice: still one message
        assert list(pacer.owed()) == ["audit"]
        assert wait_for(lambda: sent.names)
        assert time.monotonic() - started >= 0.15  # not before the pace allows
        time.sleep(0.1)
        assert sent.names == ["audit"] and pacer.owed() == {}
        assert not pacer.defer("audit")  # its pace has passed since its last step: now
    finally:
        pacer.close()


def test_a_view_that_is_not_paced_is_never_deferred():
    pacer = Pacer(Sent(), {"audit": 10.0})
    pacer.began("summaries")
    assert not pacer.defer("summaries")
    pacer.close()


def test_project_all_catches_the_summaries_up_and_leaves_views_stepped_just_now_to_the_pacer(
        runtime):  # noqa: F811 - the fixture
    runner = Runner(summaries=[Short(3)], audit=[Short(2)], pipeline=[Short(1)])
    rt, sent_here, paced = runtime(runner), [], Sent()
    rt.pacer = Pacer(paced, {"audit": 0.2, "pipeline": 0.2})
    try:
        projecting.project_all(rt, sent_here.append)  # idle: every view now
        assert runner.calls == ["summaries", "deadline_report", "audit", "pipeline"]
        runner.calls.clear()
        projecting.project_all(rt, sent_here.append)  # at once again: the paced ones wait
        assert runner.calls == ["summaries", "deadline_report"]
        assert wait_for(lambda: sorted(paced.names) == ["audit", "pipeline"])
        assert sent_here == []
    finally:
        rt.pacer.close()


def test_a_message_that_cannot_be_sent_is_logged_and_the_pacer_goes_on(caplog):
    sent = Sent()
    sent.fail = True
    pacer = Pacer(sent, {"audit": 0.05, "pipeline": 0.05})
    try:
        pacer.began("audit")
        pacer.began("pipeline")
        assert pacer.defer("audit") and pacer.defer("pipeline")
        assert wait_for(lambda: sent.names)
        assert len(sent.names) == 1  # the other was refused by the broker
        assert "was not sent" in caplog.text
    finally:
        pacer.close()


def test_a_closed_pacer_sends_nothing_more_and_defers_nothing():
    sent = Sent()
    pacer = Pacer(sent, {"audit": 0.1})
    pacer.began("audit")
    assert pacer.defer("audit")
    pacer.close()
    time.sleep(0.2)
    assert sent.names == []
    assert not pacer.defer("audit")  # a stopping worker catches up at once
