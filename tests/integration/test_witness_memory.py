"""The stream witness leaves nothing behind per head: each append's connection is reclaimed at
once, not left as cyclic garbage for collections that the long-running commands make rare
(``adapters.collector``). A soak's worker grew by ~15 MiB in 17 minutes from those, about one
closed connection a second. Counts only, never timings."""

from __future__ import annotations

import gc

import pytest

from adapters.audit.evidence.heads import unsigned_head
from adapters.audit.evidence.witnesses import StreamWitness
from tests.amqp_fixtures import rabbitmq  # noqa: F401 - fixture

HEADS = 40


@pytest.fixture
def stream_vhost(rabbitmq):  # noqa: F811 - the fixture above
    from tests.integration.rabbit import own_vhost

    with own_vhost("towns-witness-memory") as broker:
        yield broker


def _connections() -> int:
    return sum(1 for o in gc.get_objects() if type(o).__name__ == "SelectConnection")


def test_appending_heads_leaves_no_closed_connection_behind(stream_vhost):
    stream = StreamWitness(stream_vhost.url)
    gc.collect()
    before = _connections()
    enabled = gc.isenabled()
    gc.disable()  # as if no collection came due meanwhile, as in a long-running worker
    try:
        for size in range(1, HEADS + 1):
            stream.append(unsigned_head(size, bytes(32)))
        left = _connections() - before
    finally:
        if enabled:
            gc.enable()
    assert left == 0, f"{left} closed connections of {HEADS} appends wait for the collector"
    assert [h.size for _, h in stream.read().heads] == list(range(1, HEADS + 1))
