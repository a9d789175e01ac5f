"""A PostgreSQL outage longer than the pools' patience, under ``towns consume`` and ``towns
worker``: the primary of ``scripts/pg_pair.sh`` (alone, no standby) is stopped for 70 s while
messages keep coming, then started again. Both processes wait, say so in their logs, and go on
by themselves; every message is stored exactly once and the read models catch up to what a
rebuild from zero gives."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest

from adapters.bootstrap import build_towns
from adapters.config import load_config
from adapters.amqp import topology as t
from tests.cluster.pg import (PRIMARY_URL, STEPS, Service, far_deadline_config, life_cycles,
                              pair, pg_pair, stored, wait_for)
from tests.integration.rabbit import Store, own_vhost
from tests.integration.worker_processes import Views
from tests.views import assert_equal_to_rebuild

OUTAGE = 70  # seconds, longer than a pooled connection waits (60 s at most)
LIFE = [type_ for type_, _ in STEPS]


@pytest.fixture
def primary() -> Iterator[str]:
    with pair("--single"):
        yield PRIMARY_URL


def test_consumer_and_worker_wait_for_the_store_and_go_on_by_themselves(primary, tmp_path):
    config_path = far_deadline_config(tmp_path)
    config = load_config(config_path)
    store = Store(build_towns(config, primary), primary)  # the tables, before any process
    messages = life_cycles("OUT", 100)  # 600 messages
    before, during = messages[:200], messages[200:]
    with own_vhost("towns-pg-outage") as rabbit:
        service = Service(tmp_path, rabbit.url, primary, config_path)
        try:
            rabbit.publish_all(before)
            wait_for(lambda: len(stored(store)) == len(before), 120, "the first messages stored")

            # When the primary stops for longer than the pools wait, while messages keep coming
            pg_pair("stop-primary")
            stopped = time.monotonic()
            publisher = threading.Thread(target=publish_slowly, args=(rabbit, during, OUTAGE - 20))
            publisher.start()
            publisher.join()
            time.sleep(max(0.0, OUTAGE - (time.monotonic() - stopped)))
            assert service.running(), "a process exited while the store was away"
            pg_pair("start-primary")
            started = time.monotonic()

            # then every message is stored, exactly once, each life cycle whole and in order
            wait_for(lambda: len(stored(store)) > len(before), 120, "a message stored after the outage")
            print(f"\noutage: {OUTAGE} s; the consumer stored again {time.monotonic() - started:.1f} s "
                  "after the primary started")
            wait_for(lambda: len(stored(store)) == len(messages), 300, "every message stored")
            assert set(stored(store).values()) == {1}
            assert set(stored(store)) == {m.message_id for m in messages}
            for ref in sorted({m.message_id.split("/")[0] for m in messages}):
                assert store.types(ref) == LIFE, ref
            wait_for(lambda: rabbit.outstanding(t.QUEUE) == 0, 60, "the queue emptied")

            # and both processes are still running, having said that they waited, and when
            # the store answered again
            assert service.running()
            consumed, worked = service.consumer.log(), service.worker.log()
            assert "waiting for the store: it does not answer" in consumed
            assert "the store answers again" in consumed
            assert "waiting for the store: it does not answer" in worked
            assert "the store answers again" in worked

            # and the read models catch up, equal to a rebuild from zero
            views = Views(config, primary)
            try:
                wait_for(views.caught_up, 180, "the read models caught up")
                service.close()
                assert_equal_to_rebuild(views.runner)
            finally:
                views.close()
        finally:
            service.close()
            store.close()


def publish_slowly(rabbit, messages, seconds: float) -> None:
    """Publishes ``messages`` spread over about ``seconds``, in small bursts."""
    bursts = [messages[i : i + 20] for i in range(0, len(messages), 20)]
    for burst in bursts:
        rabbit.publish_all(burst)
        time.sleep(seconds / len(bursts))
