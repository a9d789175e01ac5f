"""Failover under a stream: ``towns consume`` and ``towns worker`` on the multi-host URL of the
pair of ``scripts/pg_pair.sh`` (synchronous replication), a few thousand messages being
published with confirms, the primary killed (-9) mid-stream and the standby promoted. The
consumer goes on by itself on the new primary (``target_session_attrs=read-write``), no
acknowledged message is lost (every published message ends stored exactly once: what was
unacknowledged is redelivered, and what the standby already had is recognised by the inbox),
and the read models equal a rebuild from zero.

It prints the time from the kill to the first new commit on the promoted standby, and the
deliveries the consumer found already applied (duplicates), for the README.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest

from adapters.amqp import topology as t
from adapters.bootstrap import build_towns
from adapters.config import load_config
from tests.cluster.pg import (PAIR_URL, STANDBY_URL, STEPS, Service, count_on, far_deadline_config,
                              life_cycles, pair, pg_pair, stored, wait_for)
from tests.integration.rabbit import Store, own_vhost
from tests.integration.worker_processes import Views
from tests.views import assert_equal_to_rebuild

APPS = 500  # 3,000 messages
KILL_AT = 1000  # messages stored on the standby when the primary is killed
LIFE = [type_ for type_, _ in STEPS]


@pytest.fixture
def synchronous_pair() -> Iterator[str]:
    with pair():
        yield PAIR_URL


def test_the_consumer_goes_on_on_the_promoted_standby_losing_and_doubling_nothing(
    synchronous_pair, tmp_path
):
    url = synchronous_pair
    config_path = far_deadline_config(tmp_path)
    config = load_config(config_path)
    store = Store(build_towns(config, url), url)  # the tables, before any process
    messages = life_cycles("FO", APPS)
    with own_vhost("towns-pg-failover") as rabbit:
        service = Service(tmp_path, rabbit.url, url, config_path)
        publisher = threading.Thread(target=publish_stream, args=(rabbit, messages), daemon=True)
        try:
            publisher.start()

            # When the primary dies mid-stream (kill -9 of every process of it at once)
            wait_for(lambda: (count_on(STANDBY_URL) or 0) >= KILL_AT, 180,
                     f"{KILL_AT} messages stored")
            pg_pair("kill-primary")
            killed = time.monotonic()
            had = count_on(STANDBY_URL)  # what the standby holds: every acknowledged commit
            # and the standby is promoted
            pg_pair("promote")
            promoted = time.monotonic()

            # then the consumer commits on the new primary by itself
            wait_for(lambda: (count_on(STANDBY_URL) or 0) > had, 120,
                     "a commit on the promoted standby")
            resumed = time.monotonic()
            publisher.join(300)
            assert not publisher.is_alive(), "the stream was not published"

            # and every published message is stored exactly once, each life cycle whole
            wait_for(lambda: len(stored(store)) == len(messages), 300, "every message stored")
            assert set(stored(store).values()) == {1}
            assert set(stored(store)) == {m.message_id for m in messages}
            for ref in sorted({m.message_id.split("/")[0] for m in messages}):
                assert store.types(ref) == LIFE, ref
            wait_for(lambda: rabbit.outstanding(t.QUEUE) == 0, 60, "the queue emptied")
            assert service.running(), "a process exited during the failover"
            duplicates = service.duplicates_seen()
            print(f"\nfailover: {had} messages on the standby at the kill; resumed "
                  f"{resumed - killed:.1f} s after the kill ({resumed - promoted:.1f} s after the "
                  f"promotion); {duplicates} deliveries found already applied (redelivered)")

            # and the read models, caught up on the new primary, equal a rebuild from zero
            views = Views(config, url)
            try:
                wait_for(views.caught_up, 180, "the read models caught up")
                service.close()
                assert_equal_to_rebuild(views.runner)
            finally:
                views.close()
        finally:
            service.close()
            store.close()


def publish_stream(rabbit, messages, burst: int = 50, pause: float = 0.05) -> None:
    """Publishes ``messages`` with confirms (``Rabbit.publish_all``), a burst at a time, so that
    the stream lasts long enough to be cut in the middle."""
    for start in range(0, len(messages), burst):
        rabbit.publish_all(messages[start : start + burst])
        time.sleep(pause)
