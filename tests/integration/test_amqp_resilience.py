"""``towns consume`` when things go wrong under load, against the real RabbitMQ and PostgreSQL:
kill -9 in the middle of a stream, a broker restart and a forced connection close. Every message
must end applied exactly once or dead-lettered, and the counts must add up in the event store.

The streams are whole life cycles (submitted → … → approved) of many applications, interleaved,
with some pairs published out of order (parked, then applied) and some messages refused.
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field

import pytest

from adapters.amqp import topology as t
from domain.inbox import InboxMessage
from tests.factories import envelope
from tests.integration.rabbit import (
    Message,
    Rabbit,
    Store,
    consumers,  # noqa: F401 - fixture
    eventually,
    message,
    rabbit,  # noqa: F401 - fixture
    rabbitmqctl,
    store,  # noqa: F401 - fixture
)

STEPS = [
    ("application.submitted", "applicant"),
    ("application.city_verified", "city"),
    ("application.recommended", "city"),
    ("materials.received", "province"),
    ("application.evaluated", "province"),
    ("application.approved", "province"),
]
LIFE = [type_ for type_, _ in STEPS]
CITIES = ["guangzhou", "shenzhen", "zhuhai", "foshan", "shunde", "huizhou", "dongguan", "zhongshan"]


@dataclass
class Stream:
    messages: list[Message] = field(default_factory=list)
    refs: list[str] = field(default_factory=list)
    applied: set[str] = field(default_factory=set)  # message ids that must be applied
    refused: dict[str, str] = field(default_factory=dict)  # message id → code


def life_cycles(prefix: str, apps: int, chunk: int = 50) -> Stream:
    """``apps`` whole life cycles, ``chunk`` applications at a time step by step; every tenth
    application has its recommendation published before its verification; every eighth gets
    one refused message (a foreign city, a missing field, an unknown user) after its submission."""
    stream = Stream()
    for start in range(0, apps, chunk):
        group = range(start, min(start + chunk, apps))
        for step, (type_, role) in enumerate(STEPS):
            for i in group:
                stream.messages.extend(_step(stream, prefix, i, step, type_, role))
    return stream


def _step(stream: Stream, prefix: str, i: int, step: int, type_: str, role: str) -> list[Message]:
    city, ref = CITIES[i % len(CITIES)], f"{prefix}-{i:04d}"
    track = "industrial" if i % 2 else "application"
    if step == 0:
        stream.refs.append(ref)
    if i % 10 == 3 and type_ in ("application.city_verified", "application.recommended"):
        if type_ == "application.city_verified":
            return []  # sent right after the recommendation
        return [*_lifecycle(stream, ref, city, track, "application.recommended", "city"),
                *_lifecycle(stream, ref, city, track, "application.city_verified", "city")]
    out = _lifecycle(stream, ref, city, track, type_, role)
    if step == 1 and i % 8 == 5:
        out.append(_refused(stream, ref, city, i))
    return out


def _lifecycle(stream: Stream, ref: str, city: str, track: str, type_: str, role: str) -> list[Message]:
    mid = f"{ref}/{type_}"
    stream.applied.add(mid)
    user = "province" if role == "province" else f"{city}-{role}"
    return [message(envelope(type_, ref, city, track, message_id=mid), user)]


def _refused(stream: Stream, ref: str, city: str, i: int) -> Message:
    mid = f"{ref}/refused"
    kind = (i // 8) % 3
    if kind == 0:  # another city's user acting on this application
        other = "foshan" if city != "foshan" else "shunde"
        stream.refused[mid] = "forbidden"
        return message(envelope("application.returned", ref, other, message_id=mid), f"{other}-city")
    if kind == 1:
        body = envelope("application.returned", ref, city, message_id=mid)
        del body["payload"]["reason"]
        stream.refused[mid] = "schema_invalid"
        return message(body, f"{city}-city")
    stream.refused[mid] = "unauthenticated"
    return message(envelope("application.returned", ref, city, message_id=mid), "nobody-we-know")


def markers(store: Store) -> int:
    return store.count(InboxMessage.Applied.TOPIC)


def kill_right_after_a_commit(consumer, store: Store, at_least: int, timeout: float = 60) -> None:
    """SIGKILL the moment a group commit past ``at_least`` messages shows in the database: most
    likely before the consumer's ack, so that the broker redelivers messages already applied."""
    end = time.monotonic() + timeout
    seen = store.count_now(InboxMessage.Applied.TOPIC)
    while time.monotonic() < end:
        now = store.count_now(InboxMessage.Applied.TOPIC)
        if now >= at_least and now != seen:
            consumer.kill()
            return
        seen = now
        time.sleep(0.001)
    pytest.fail(f"not {at_least} messages applied within {timeout}s")


def check_every_message_applied_once_or_dead_lettered(stream: Stream, store: Store, rabbit: Rabbit) -> None:
    # each application has its whole life cycle, once, in order
    for ref in stream.refs:
        history = store.history(ref)
        assert [e.EVENT_TYPE for e in history] == LIFE, ref
        assert [e.message_id for e in history] == [f"{ref}/{type_}" for type_ in LIFE], ref
    # one inbox marker per applied message, no more
    applied = Counter(e.message_id for e in store.towns.events_with_topics([InboxMessage.Applied.TOPIC]))
    assert set(applied) == stream.applied and set(applied.values()) == {1}
    # each refused message is a dead letter with its code, counted once, and on the queue
    letters = store.dead_letters()
    assert {k: d.code for k, d in letters.items()} == stream.refused
    assert {d.attempts for d in letters.values()} == {1}
    on_queue = {r.message_id for r in rabbit.take_all(t.DEAD_QUEUE)}
    assert on_queue == set(stream.refused)
    # nothing parked, nothing left on the queue: the counts add up to what was published
    assert store.open_parked() == []
    assert len(applied) + len(letters) == len(stream.messages)
    assert rabbit.settled(t.QUEUE) == 0


@pytest.fixture(autouse=True)
def empty_queues(rabbit: Rabbit) -> None:
    rabbit.purge()


def test_kill_9_in_the_middle_of_a_stream_loses_nothing_and_repeats_nothing(
    rabbit: Rabbit, store: Store, consumers
):
    # Given 3,000 life-cycle messages of 500 applications and some refused ones on the queue
    stream = life_cycles("K9", 500)
    assert len(stream.applied) == 3000 and stream.refused
    rabbit.publish_all(stream.messages)
    settings = {"TOWNS_BATCH_SIZE": 50, "TOWNS_REORDER_WINDOW": 600}
    # When the consumer is killed with SIGKILL twice while it works through them
    for stop_at in (800, 1900):
        consumer = consumers.start(rabbit.url, store.url, **settings)
        kill_right_after_a_commit(consumer, store, stop_at)
        assert markers(store) < len(stream.applied), "the stream ended before the kill"
    # and a third one is started
    consumers.start(rabbit.url, store.url, **settings)
    eventually(lambda: markers(store) == len(stream.applied) and rabbit.outstanding() == 0, 90, 0.5,
               "every message applied")
    # Then every message is applied exactly once or dead-lettered
    check_every_message_applied_once_or_dead_lettered(stream, store, rabbit)


def test_the_consumer_outlives_a_broker_restart(rabbit: Rabbit, store: Store, consumers):
    stream = life_cycles("BR", 400)
    rabbit.publish_all(stream.messages)
    consumer = consumers.start(rabbit.url, store.url, TOWNS_BATCH_SIZE=5)
    eventually(lambda: markers(store) >= 200, 60, 0.05, "200 messages applied")
    # When the broker stops and starts again while the consumer is at work
    try:
        rabbitmqctl("stop_app")
        assert markers(store) < len(stream.applied), "the stream ended before the broker stopped"
    finally:
        rabbitmqctl("start_app")
        rabbitmqctl("await_startup", "--timeout", "60")
    # Then the same process reconnects by itself and finishes the stream
    eventually(lambda: markers(store) == len(stream.applied) and rabbit.outstanding() == 0, 90, 0.5,
               "every message applied after the restart")
    assert consumer.running() and "reconnecting" in consumer.log()
    check_every_message_applied_once_or_dead_lettered(stream, store, rabbit)


def test_the_consumer_outlives_a_forced_connection_close(rabbit: Rabbit, store: Store, consumers):
    # long enough that both closes (rabbitmqctl takes a second or two) land mid-stream
    stream = life_cycles("CC", 1200)
    rabbit.publish_all(stream.messages)
    consumer = consumers.start(rabbit.url, store.url, TOWNS_BATCH_SIZE=5)
    # When an operator closes the consumer's connection, twice, while it is at work
    for closes in (1, 2):
        done = markers(store)
        eventually(lambda: markers(store) >= done + 200, 60, 0.05, "200 more messages applied")
        rabbitmqctl("close_all_connections", "-p", rabbit.vhost, "closed by the test")
        assert markers(store) < len(stream.applied), "the stream ended before the close"
        # (the second close waits for the connection that the first one made the consumer open)
        eventually(lambda: consumer.log().count("consuming towns.inbound") == closes + 1, 30,
                   what="the consumer consuming again")
    # Then the same process reconnects by itself and finishes the stream
    eventually(lambda: markers(store) == len(stream.applied) and rabbit.outstanding() == 0, 90, 0.5,
               "every message applied after the closes")
    assert consumer.running() and consumer.log().count("reconnecting") == 2
    check_every_message_applied_once_or_dead_lettered(stream, store, rabbit)
