"""``StoreWatch``: the consumer says at once that it waits for a store that does not answer,
again while it waits, and once when it answers again; a slow store that answers says nothing."""

from __future__ import annotations

import logging
import time

from adapters.amqp.store_watch import StoreWatch


class Store:
    def __init__(self) -> None:
        self.up = False

    def probe(self) -> None:
        if not self.up:
            raise ConnectionRefusedError("connection refused")


def wait(watch: StoreWatch, since: float, seconds: float) -> None:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        watch.waiting(since)
        time.sleep(0.005)
    if watch._checking is not None:
        watch._checking.join()


def test_a_store_that_does_not_answer_is_said_at_once_again_and_back_once(caplog):
    caplog.set_level(logging.INFO, "towns.consume")
    store = Store()
    watch = StoreWatch(store.probe, after=0.01, every=0.1, check_every=0.01)
    started = time.monotonic()
    wait(watch, started, 0.005)
    assert caplog.messages == []  # not before ``after``
    wait(watch, started, 0.05)
    assert [m for m in caplog.messages if m.startswith("waiting for the store")]
    wait(watch, started, 0.25)
    assert any(m.startswith("still waiting for the store") for m in caplog.messages)
    store.up = True
    wait(watch, started, 0.05)
    watch.over(True)
    back = [m for m in caplog.messages if m.startswith("the store answers again")]
    assert len(back) == 1
    assert caplog.messages.index(back[0]) > caplog.messages.index(
        next(m for m in caplog.messages if m.startswith("waiting for the store")))


def test_a_slow_store_that_answers_says_nothing(caplog):
    caplog.set_level(logging.INFO, "towns.consume")
    watch = StoreWatch(lambda: None, after=0.01, check_every=0.01)
    wait(watch, time.monotonic(), 0.05)
    watch.over(True)
    assert caplog.messages == []
