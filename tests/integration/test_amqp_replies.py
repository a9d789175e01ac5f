"""``towns consume`` answers a message's ``reply_to`` against the real RabbitMQ and PostgreSQL:
applied, duplicate and refused; a parked message once, when it is applied; none without
``reply_to``; a ``reply_to`` naming no queue, or a hostile one, neither stops the consumer
nor goes unnoticed in its metrics; and a reply that makes the broker close the connection it
goes on closes only the replies' own connection, never the consumer's, and its ``reply_to`` is
refused from then on."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys

import pytest

from adapters.amqp import topology as t
from tests.factories import envelope
from tests.integration.rabbit import (
    ROOT,
    ConsumerProcess,
    Consumers,
    Rabbit,
    Store,
    consumers,  # noqa: F401 - fixture
    eventually,
    message,
    rabbit,  # noqa: F401 - fixture
    store,  # noqa: F401 - fixture
)
from tests.integration.test_ops import closed_port, scrape

FORGED_DIRECT_REPLY_TO = "amq.rabbitmq.reply-to.g1h2AA5yZXBseUAxNTIwMjU5NAAAB2YAAAAAXs1MlQ==.x"
"""A direct reply-to name that decodes to no channel: publishing to it makes RabbitMQ (3.10)
close the publishing connection."""
OTHER_FORGED = "amq.rabbitmq.reply-to.g1h2AA5yZXBseUAxNTIwMjU5NAAAB2YAAAAAXs1MlQ==.y"

LENIENT = """
import sys
from adapters.amqp import replies
strict = replies.reply_queue
def lenient(reply_to):
    if isinstance(reply_to, str) and reply_to.startswith(replies.DIRECT_REPLY_TO):
        return reply_to, None
    return strict(reply_to)
replies.reply_queue = lenient
from adapters.cli import main
sys.exit(main(["consume"]))
"""
"""``towns consume`` with direct reply-to let through, so that a forged one reaches the broker."""


class LenientConsumer(ConsumerProcess):
    def __init__(self, env: dict[str, str], log) -> None:
        self.log_path = log
        with open(log, "ab") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-c", LENIENT],
                cwd=ROOT, env=env, stdin=subprocess.DEVNULL, stdout=out, stderr=out,
            )


def lenient(consumers: Consumers, amqp_url: str, database_url: str,
            **env: str | float) -> ConsumerProcess:
    """A consumer started as ``Consumers.start`` does, but letting direct reply-to through."""
    environment = {k: v for k, v in os.environ.items() if not k.startswith("TOWNS_")}
    environment.update(TOWNS_AMQP_URL=amqp_url, TOWNS_DATABASE_URL=database_url,
                       TOWNS_BATCH_MS="20", PYTHONUNBUFFERED="1")
    environment.update({k: str(v) for k, v in env.items()})
    process = LenientConsumer(environment, consumers.folder / f"consumer-{len(consumers.started)}.log")
    consumers.started.append(process)
    return process


@pytest.fixture(autouse=True)
def empty_queues(rabbit: Rabbit) -> None:
    rabbit.purge()


@pytest.fixture
def replies(rabbit: Rabbit, request) -> str:
    """A queue of the sender's for the replies, empty."""
    name = f"replies-{request.node.name[-40:]}"
    with rabbit._connect() as connection:
        channel = connection.channel()
        channel.queue_declare(name, durable=True)
        channel.queue_purge(name)
    return name


def asking(msg, reply_to: str | None):
    return dataclasses.replace(msg, properties={"reply_to": reply_to}) if reply_to else msg


def submitted(ref: str, mid: str, reply_to: str | None = None, **changes):
    value = {**envelope("application.submitted", ref, message_id=mid), **changes}
    return asking(message(value, "shunde-applicant"), reply_to)


def drained(rabbit: Rabbit) -> bool:
    return rabbit.settled(t.QUEUE) == 0


def bodies(taken) -> list[dict]:
    return [json.loads(r.body) for r in taken]


def metric(samples: dict, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def test_applied_duplicate_and_refused_messages_are_answered_and_silent_ones_are_not(
    rabbit: Rabbit, store: Store, consumers, replies: str
):
    consumer = consumers.start(rabbit.url, store.url)
    # Given a submission asking for a reply, the same again, one without reply_to, and one refused
    rabbit.publish(
        submitted("SD-RPL-001", "rpl-1", replies),
        submitted("SD-RPL-002", "rpl-2"),
        submitted("SD-RPL-003", "rpl-3", replies, call_id="GD-NOPE"),
    )
    eventually(lambda: rabbit.depth(replies) == 2, what="the first two replies")
    rabbit.publish(submitted("SD-RPL-001", "rpl-1", replies))
    eventually(lambda: rabbit.depth(replies) == 3, what="the reply to the repeat")
    assert drained(rabbit)
    # Then each message asking for one has exactly one reply, in order, correlated by its id
    taken = rabbit.take_all(replies)
    assert [r.properties.correlation_id for r in taken] == ["rpl-1", "rpl-3", "rpl-1"]
    applied, refused, duplicate = bodies(taken)
    assert applied == {"message_id": "rpl-1", "outcome": "applied", "call_id": "GD-ITOWN-2017-B2",
                       "application_ref": "SD-RPL-001", "status": "submitted", "version": 1}
    assert duplicate == {**applied, "outcome": "duplicate"}
    # and the refusal says what its dead letter says
    record = store.dead_letters()["rpl-3"]
    assert refused == {"message_id": "rpl-3", "outcome": "refused", "code": "unknown_call",
                       "detail": record.detail}
    [letter] = rabbit.take_all(t.DEAD_QUEUE)
    assert (letter.headers[t.ERROR], letter.headers[t.DETAIL]) == ("unknown_call", record.detail)
    # and every reply is persistent JSON from the service's own user
    for r in taken:
        assert (r.properties.content_type, r.properties.delivery_mode, r.user_id) == (
            "application/json", 2, "guest")
    # while the message without reply_to was applied all the same
    assert store.types("SD-RPL-002") == ["application.submitted"]
    assert consumer.running()


def test_a_parked_message_is_answered_once_when_it_is_applied(
    rabbit: Rabbit, store: Store, consumers, replies: str
):
    consumers.start(rabbit.url, store.url, TOWNS_REORDER_WINDOW=600)
    verify = asking(message(envelope("application.city_verified", "SD-RPL-010",
                                     message_id="rpl-10"), "shunde-city"), replies)
    # Given a verification that comes before its submission: parked, acknowledged, no reply yet
    rabbit.publish(verify)
    eventually(lambda: store.open_parked(), what="the verification parked")
    assert drained(rabbit) and rabbit.depth(replies) == 0
    # When the submission arrives (asking for nothing)
    rabbit.publish(submitted("SD-RPL-010", "rpl-11"))
    eventually(lambda: len(store.types("SD-RPL-010")) == 2, what="both applied")
    # Then the verification has its one reply: applied, as the application stands after it
    eventually(lambda: rabbit.depth(replies) == 1, what="the reply")
    assert drained(rabbit)
    [reply] = rabbit.take_all(replies)
    assert reply.properties.correlation_id == "rpl-10"
    body = json.loads(reply.body)
    assert (body["outcome"], body["status"], body["version"]) == ("applied", "city_verified", 2)


def test_a_reply_to_no_queue_or_a_hostile_one_is_counted_and_the_consumer_goes_on(
    rabbit: Rabbit, store: Store, consumers, replies: str
):
    port = closed_port()
    consumer = consumers.start(rabbit.url, store.url, TOWNS_METRICS_PORT=port)
    # Given messages whose reply_to names no queue, a forged direct reply-to, the service's
    # own inbound queue and a control character, then one with a good reply_to
    rabbit.publish(
        submitted("SD-RPL-020", "rpl-20", "no-such-queue"),
        submitted("SD-RPL-021", "rpl-21", FORGED_DIRECT_REPLY_TO),
        submitted("SD-RPL-022", "rpl-22", t.QUEUE),
        submitted("SD-RPL-023", "rpl-23", "bell\x07"),
    )
    rabbit.publish(submitted("SD-RPL-024", "rpl-24", replies))
    # Then every message is applied and the good reply arrives, on the same connection
    eventually(lambda: rabbit.depth(replies) == 1, what="the good reply")
    assert drained(rabbit)
    for n in range(20, 25):
        assert store.types(f"SD-RPL-0{n}") == ["application.submitted"]
    [reply] = rabbit.take_all(replies)
    assert reply.properties.correlation_id == "rpl-24"
    assert consumer.running() and "reconnecting" not in consumer.log()
    # and nothing was published to the service's own queues
    assert rabbit.depth(t.DEAD_QUEUE) == 0
    # and each reply that went nowhere is counted and logged
    samples = scrape(f"http://127.0.0.1:{port}/metrics")
    assert metric(samples, "towns_ingest_replies_total", result="returned") == 1
    assert metric(samples, "towns_ingest_replies_total", result="invalid_reply_to") == 3
    assert metric(samples, "towns_ingest_replies_total", result="confirmed") == 1
    log = consumer.log()
    assert "no queue named 'no-such-queue'" in log and "direct reply-to" in log
    assert "a queue of the service" in log and "control character" in log


def opened(consumer: ConsumerProcess) -> int:
    """How many times the replies' connection was opened."""
    return consumer.log().count("replies go on a connection of their own")


def kept_its_connection(consumer: ConsumerProcess) -> bool:
    log = consumer.log()
    return (consumer.running() and "reconnecting" not in log
            and log.count(f"consuming {t.QUEUE} at") == 1)


def test_a_reply_that_closes_the_connection_costs_only_the_replies_connection_once(
    rabbit: Rabbit, store: Store, consumers, replies: str
):
    port = closed_port()
    consumer = lenient(consumers, rabbit.url, store.url, TOWNS_METRICS_PORT=port)
    # Given a message whose reply makes the broker close the connection it is published on
    rabbit.publish(submitted("SD-RPL-040", "rpl-40", FORGED_DIRECT_REPLY_TO))
    eventually(lambda: "refused from now on" in consumer.log(), what="the name refused")
    eventually(lambda: drained(rabbit), what="the first message acknowledged")
    # When the same name asks again, beside a good reply_to, twice
    rabbit.publish(submitted("SD-RPL-041", "rpl-41", FORGED_DIRECT_REPLY_TO),
                   submitted("SD-RPL-042", "rpl-42", replies))
    eventually(lambda: rabbit.depth(replies) == 1, what="the first good reply")
    rabbit.publish(submitted("SD-RPL-043", "rpl-43", FORGED_DIRECT_REPLY_TO),
                   submitted("SD-RPL-044", "rpl-44", replies))
    eventually(lambda: rabbit.depth(replies) == 2, what="the second good reply")
    # Then the consumer kept its own connection, and every message was applied once and
    # acknowledged: nothing waits in the queue, nothing was dead-lettered
    assert drained(rabbit)
    assert kept_its_connection(consumer), consumer.log()
    for n in range(40, 45):
        assert store.types(f"SD-RPL-0{n}") == ["application.submitted"]
    assert rabbit.depth(t.DEAD_QUEUE) == 0
    assert [r.properties.correlation_id for r in rabbit.take_all(replies)] == ["rpl-42", "rpl-44"]
    # and the name cost one lost replies' connection, then was refused without another
    assert opened(consumer) == 2
    samples = scrape(f"http://127.0.0.1:{port}/metrics")
    assert metric(samples, "towns_ingest_replies_total", result="connection_closed") == 1
    assert metric(samples, "towns_ingest_replies_total", result="invalid_reply_to") == 2
    assert metric(samples, "towns_ingest_replies_total", result="confirmed") == 2
    log = consumer.log()
    assert f"reply_to {FORGED_DIRECT_REPLY_TO!r} made the broker close" in log
    assert "closed by the broker: 541" in log


def test_a_name_that_closes_the_connection_amid_good_ones_is_found_out_and_the_good_ones_answered(
    rabbit: Rabbit, store: Store, consumers, replies: str
):
    port = closed_port()
    # one batch for the messages of each publish
    consumer = lenient(consumers, rabbit.url, store.url, TOWNS_METRICS_PORT=port,
                       TOWNS_BATCH_MS=1000)

    def batch(n: int) -> list:
        return [submitted(f"SD-RPL-0{n}", f"rpl-{n}", replies),
                submitted(f"SD-RPL-0{n + 1}", f"rpl-{n + 1}", OTHER_FORGED),
                submitted(f"SD-RPL-0{n + 2}", f"rpl-{n + 2}", replies)]

    got: list[str] = []

    def answered(*ids: str) -> bool:
        got.extend(r.properties.correlation_id for r in rabbit.take_all(replies))
        return set(ids) <= set(got)

    # Given a batch whose replies go to a good queue and to a name that closes the connection:
    # which of them did it is not known, all are lost with the replies' connection (a reply
    # published before the culprit may have been routed all the same, its confirm lost)
    rabbit.publish(*batch(50))
    eventually(lambda: all(store.types(f"SD-RPL-0{n}") for n in (50, 51, 52))
               and "replies not delivered (connection_closed)" in consumer.log(),
               what="the first batch")
    # When the next batches ask the same: each suspect is published alone, the culprit found out
    rabbit.publish(*batch(53))
    eventually(lambda: answered("rpl-53", "rpl-55"), what="the good replies of the second batch")
    rabbit.publish(*batch(56))
    eventually(lambda: answered("rpl-56", "rpl-58"), what="the good replies of the third batch")
    # Then the consumer kept its connection, every message applied and acknowledged once
    assert drained(rabbit)
    assert kept_its_connection(consumer), consumer.log()
    for n in range(50, 59):
        assert store.types(f"SD-RPL-0{n}") == ["application.submitted"]
    assert rabbit.depth(t.DEAD_QUEUE) == 0
    answered()
    assert [i for i in got if i not in ("rpl-50", "rpl-52")] == [
        "rpl-53", "rpl-55", "rpl-56", "rpl-58"]
    assert len(got) == len(set(got))
    # and the culprit alone is refused, after costing two replies' connections
    assert f"reply_to {OTHER_FORGED!r} made the broker close" in consumer.log()
    assert opened(consumer) == 3
    samples = scrape(f"http://127.0.0.1:{port}/metrics")
    assert metric(samples, "towns_ingest_replies_total", result="connection_closed") == 4
    assert metric(samples, "towns_ingest_replies_total", result="invalid_reply_to") == 1
    assert metric(samples, "towns_ingest_replies_total", result="confirmed") == 4
