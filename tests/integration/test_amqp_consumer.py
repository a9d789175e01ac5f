"""``towns consume`` against the real RabbitMQ and PostgreSQL: repeats, redeliveries and
conflicts; messages published out of order; poison messages; a dead letter the broker would not
take at first."""

from __future__ import annotations

import json
import time

import pytest

from adapters.amqp import topology as t
from adapters.inbound.ingest import ingest
from domain.inbox import InboxMessage
from tests.factories import envelope
from tests.integration.rabbit import (
    Rabbit,
    Store,
    consumers,  # noqa: F401 - fixture
    eventually,
    message,
    rabbit,  # noqa: F401 - fixture
    store,  # noqa: F401 - fixture
)

LIFE = ["application.submitted", "application.city_verified", "application.recommended"]


@pytest.fixture(autouse=True)
def empty_queues(rabbit: Rabbit) -> None:
    rabbit.purge()


def drained(rabbit: Rabbit) -> bool:
    """Nothing ready or unacknowledged on towns.inbound."""
    return rabbit.settled(t.QUEUE) == 0


def test_repeats_and_redeliveries_record_once_and_a_conflict_is_kept_as_evidence(
    rabbit: Rabbit, store: Store, consumers, config
):
    submit = envelope("application.submitted", "SD-DUP-001", message_id="dup-submit")
    verify = envelope("application.city_verified", "SD-DUP-001", message_id="dup-verify")
    recommend = envelope("application.recommended", "SD-DUP-001", message_id="dup-recommend")
    # Given a consumer committed the submission and the verification, then died before its ack,
    for value, who in ((submit, "shunde-applicant"), (verify, "shunde-city")):
        ingest(store.towns, json.dumps(value).encode(), config.principals[who])
    # so that the broker delivers both again, marked redelivered
    rabbit.publish(message(submit, "shunde-applicant"), message(verify, "shunde-city"))
    rabbit.requeue_as_redelivered(2)
    # and a publisher that repeats itself, once with its keys in another order and spacing,
    spaced = json.dumps(dict(reversed(list(recommend.items()))), indent=2).encode()
    conflict = {**submit, "payload": {**submit["payload"], "town_name": "Lecong Town"}}
    rabbit.publish(
        message(recommend, "shunde-city"),
        message(recommend, "shunde-city"),
        message(spaced, "shunde-city", "application.recommended", "dup-recommend"),
        message(conflict, "shunde-applicant"),
    )
    # When the consumer has taken all of them, and the same ones are published again later
    consumers.start(rabbit.url, store.url)
    eventually(lambda: drained(rabbit) and store.dead_letters(), 30, what="the first stream")
    rabbit.publish(message(recommend, "shunde-city"), message(submit, "shunde-applicant"))
    eventually(lambda: drained(rabbit), 30, what="the repeats")
    # Then each event is recorded once
    history = store.history("SD-DUP-001")
    assert [e.EVENT_TYPE for e in history] == LIFE
    assert [e.message_id for e in history] == ["dup-submit", "dup-verify", "dup-recommend"]
    assert [type(e) for e in store.marker_events("dup-recommend")] == [InboxMessage.Applied]
    # and the other body under an applied id is refused, kept on the marker as evidence
    markers = store.marker_events("dup-submit")
    assert [type(e) for e in markers] == [InboxMessage.Applied, InboxMessage.ConflictSeen]
    assert markers[1].body == conflict
    assert store.history("SD-DUP-001")[0].data["town_name"] == submit["payload"]["town_name"]
    # and dead-lettered: the only dead letter, in the database and on the queue
    assert {k: d.code for k, d in store.dead_letters().items()} == {"dup-submit": "idempotency_conflict"}
    [letter] = rabbit.take_all(t.DEAD_QUEUE)
    assert letter.headers[t.ERROR] == "idempotency_conflict"
    assert json.loads(letter.body) == conflict


def test_a_pair_published_out_of_order_is_applied_in_order(rabbit: Rabbit, store: Store, consumers):
    consumers.start(rabbit.url, store.url, TOWNS_REORDER_WINDOW=600)

    def msg(type_: str, ref: str):
        who = "shunde-applicant" if type_ == "application.submitted" else "shunde-city"
        return message(envelope(type_, ref), who)

    # Given the recommendation reaches the queue while the verification is still on its way
    rabbit.publish(msg("application.submitted", "SD-ORD-001"))
    eventually(lambda: store.types("SD-ORD-001"), what="the submission")
    rabbit.publish(msg("application.recommended", "SD-ORD-001"))
    eventually(lambda: store.open_parked(), what="the recommendation parked")
    assert store.types("SD-ORD-001") == ["application.submitted"]
    # When the verification arrives, Then the recommendation follows it
    rabbit.publish(msg("application.city_verified", "SD-ORD-001"))
    eventually(lambda: len(store.types("SD-ORD-001")) == 3, what="the pair applied")
    assert store.types("SD-ORD-001") == LIFE
    assert store.open_parked() == []
    # The same within one stream, and with the pair ahead of its submission
    rabbit.publish(msg("application.submitted", "SD-ORD-002"), msg("application.recommended", "SD-ORD-002"),
                   msg("application.city_verified", "SD-ORD-002"),
                   msg("application.recommended", "SD-ORD-003"), msg("application.city_verified", "SD-ORD-003"),
                   msg("application.submitted", "SD-ORD-003"))
    eventually(lambda: len(store.types("SD-ORD-002")) == len(store.types("SD-ORD-003")) == 3,
               what="both streams applied")
    assert store.types("SD-ORD-002") == store.types("SD-ORD-003") == LIFE
    assert store.open_parked() == [] and store.dead_letters() == {}
    assert drained(rabbit)


def test_a_predecessor_waiting_in_the_queue_at_a_restart_comes_before_the_window(
    rabbit: Rabbit, store: Store, consumers
):
    """The window passed while the consumer was down, but the predecessor was in the queue all
    along: on restart it is applied first, and the parked message follows it."""
    consumer = consumers.start(rabbit.url, store.url, TOWNS_REORDER_WINDOW=1)
    rabbit.publish(message(envelope("application.city_verified", "SD-RST-001"), "shunde-city"))
    eventually(lambda: store.open_parked(), what="the verification parked")
    assert consumer.stop() == 0
    time.sleep(1.5)  # the window passes while nothing runs
    rabbit.publish(message(envelope("application.submitted", "SD-RST-001"), "shunde-applicant"))
    consumers.start(rabbit.url, store.url, TOWNS_REORDER_WINDOW=1)
    eventually(lambda: len(store.types("SD-RST-001")) == 2, what="both applied")
    assert store.types("SD-RST-001") == ["application.submitted", "application.city_verified"]
    assert store.open_parked() == [] and store.dead_letters() == {}


def test_poison_messages_never_block_the_messages_behind_them(rabbit: Rabbit, store: Store, consumers):
    consumer = consumers.start(rabbit.url, store.url, TOWNS_REORDER_WINDOW=1, TOWNS_BATCH_SIZE=5)

    def msg(type_: str, ref: str, who: str = "shunde-city", **headers):
        return message(envelope(type_, ref, message_id=f"{ref}/{type_}"), who, **headers)

    poison = [
        # JSON nested too deep for the parser: it fails the whole group commit
        message(b"[" * 50_000 + b"]" * 50_000, "shunde-applicant", "application.submitted", "p-deep"),
        # neither UTF-8 nor carrying a message id
        message(b"\x80\x81\x82", "shunde-applicant", "application.submitted", None),
        # early, with a first-seen time the sweep could not compare with now
        msg("application.city_verified", "SD-PSN-404", **{t.FIRST_SEEN: "2017-03-10T09:30:00"}),
        # headers of the wrong types
        msg("application.city_verified", "SD-PSN-405", **{t.FIRST_SEEN: 12345, t.USER_ID: 7}),
    ]
    # Given poison messages among the good ones of two applications
    rabbit.publish(
        msg("application.submitted", "SD-PSN-001", "shunde-applicant"), poison[0],
        msg("application.city_verified", "SD-PSN-001"), poison[1], poison[2],
        msg("application.recommended", "SD-PSN-001"), poison[3],
        msg("application.submitted", "SD-PSN-002", "shunde-applicant"),
    )
    # When the early ones have had their window and more good messages follow
    eventually(lambda: len(store.dead_letters()) == 4, 20, what="four dead letters")
    rabbit.publish(msg("application.city_verified", "SD-PSN-002"))
    eventually(lambda: len(store.types("SD-PSN-002")) == 2, 20, what="the message after the poison")
    # Then every good message is applied, in order, by the same consumer
    assert consumer.running()
    assert store.types("SD-PSN-001") == LIFE
    assert store.types("SD-PSN-002") == LIFE[:2]
    codes = {d.key: d.code for d in store.dead_letters().values()}
    # Too deep for json.loads (RecursionError) is refused as the service failing on it; by the
    # contract it is `malformed` (not JSON that can be read), which adapters/inbound/ingest.py should say.
    assert codes.pop("p-deep") == "malformed"
    assert sorted(codes.values()) == ["malformed", "unknown_application", "unknown_application"]
    letters = rabbit.take_all(t.DEAD_QUEUE)
    assert sorted(x.body for x in letters) == sorted(m.body for m in poison)
    for letter in letters:
        assert letter.headers[t.FIRST_SEEN].endswith("+00:00")
    assert drained(rabbit)


def test_a_dead_letter_the_broker_refused_is_sent_again_on_the_next_connection(
    rabbit: Rabbit, store: Store, consumers
):
    consumer = consumers.start(rabbit.url, store.url, TOWNS_REORDER_WINDOW=3)
    # Given a message parked as possibly early (its application never appears)
    early = message(envelope("application.city_verified", "SD-GONE-001", message_id="gone-1"),
                    "shunde-city")
    rabbit.publish(early)
    [parked] = eventually(lambda: store.open_parked(), what="the message parked")
    # When the dead-letter exchange is gone as its window passes: the publish is refused
    rabbit.delete_dead_exchange()
    # Then the consumer reconnects, declares the topology again and sends the letter
    eventually(lambda: rabbit.depth(t.DEAD_QUEUE) == 1, 30, what="the dead letter on the queue")
    eventually(lambda: store.open_parked() == [], 10, what="the parked message released")
    assert store.towns.repository.get(parked.id).released_as == "dead_lettered"
    [letter] = rabbit.take_all(t.DEAD_QUEUE)
    assert (letter.body, letter.message_id) == (early.body, "gone-1")
    assert letter.headers[t.ERROR] == "unknown_application"
    assert consumer.running() and "reconnecting" in consumer.log()

