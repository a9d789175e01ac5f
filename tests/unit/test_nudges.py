"""Nudges after commits (``workers.nudges``): a burst costs one message; while one send waits
for its confirm, the next nudge goes out at once from the other thread; ``flush`` sends a
pending nudge and returns once the sends in flight are done; a send that fails is logged."""

from __future__ import annotations

import threading
import time

from workers.nudges import Nudger


def eventually(check, timeout=5.0):
    end = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < end, "not in time"
        time.sleep(0.005)


def test_a_burst_of_commits_costs_one_nudge():
    sent = []
    gate = threading.Event()

    def send():
        gate.wait(5)
        sent.append(1)

    nudger = Nudger(send, senders=1)
    nudger.nudge()
    eventually(lambda: nudger._sending == 1)
    for _ in range(50):
        nudger.nudge()
    gate.set()
    nudger.close()
    assert sent == [1, 1]


def test_while_one_send_waits_the_next_nudge_goes_out_at_once():
    first_waits, release, sent = threading.Event(), threading.Event(), []

    def send():
        if not first_waits.is_set():
            first_waits.set()
            release.wait(5)  # a confirm that is slow to come
        sent.append(time.monotonic())

    nudger = Nudger(send)
    nudger.nudge()
    assert first_waits.wait(5)
    nudger.nudge()
    eventually(lambda: len(sent) == 1)  # sent while the first still waits
    release.set()
    nudger.flush()
    assert len(sent) == 2
    nudger.close()


def test_flush_waits_for_the_sends_in_flight():
    release, sent = threading.Event(), []

    def send():
        release.wait(5)
        sent.append(1)

    nudger = Nudger(send)
    nudger.nudge()
    eventually(lambda: nudger._sending == 1)
    threading.Timer(0.05, release.set).start()
    nudger.flush()
    assert sent == [1]
    nudger.close()


def test_a_send_that_fails_is_logged_and_the_next_goes_out(caplog):
    calls = []

    def send():
        calls.append(1)
        if len(calls) == 1:
            raise ConnectionError("broker away")

    nudger = Nudger(send)
    nudger.nudge()
    eventually(lambda: len(calls) == 1)
    nudger.flush()
    nudger.nudge()
    nudger.close()
    assert len(calls) == 2
    assert any("projection nudge not sent" in m for m in caplog.messages)
