"""What a dead letter's copy for the broker becomes, without a broker: ``Inbound`` on the
in-memory store, and the consumer's ``_publish`` against a fake channel that refuses or closes
as a test says. One copy per dead-lettering however often a message comes back; a copy the
broker does not confirm goes bare the second time and is given up the third; what the service
adds is bounded, and so are the publisher's headers and the stored body.
(Against the real broker and store: tests/hostile/test_dead_letters.py.)"""

from __future__ import annotations

import hashlib
import json
from datetime import timedelta

import pika
import pytest
from pika.exceptions import ChannelClosedByBroker, NackError

from adapters.amqp import properties
from adapters.amqp import topology as t
from adapters.amqp.consumer import Consumer
from adapters.amqp.inbound import Delivery, Inbound
from adapters.store.inbound_records import InboundRecords
from adapters.ops import metrics
from tests.factories import encode, envelope
from tests.unit.test_consumer_batches import FakeConnection

WINDOW = 60


@pytest.fixture
def inbound(memory_towns, config) -> Inbound:
    return Inbound(memory_towns, config, InboundRecords(memory_towns), WINDOW, service_user="svc")


def refused(mid: str = "m-1", **headers) -> Delivery:
    value = {**envelope("application.submitted", message_id=mid), "call_id": "GD-NOPE"}
    amqp = pika.BasicProperties(message_id=mid, user_id="shunde-applicant", headers=headers or None,
                                content_type="application/json")
    return Delivery(encode(value), mid, "shunde-applicant", "application.submitted", dict(headers),
                    "application/json", amqp=amqp)


def record(inbound: Inbound, key: str = "m-1"):
    return {x.key: x for x in inbound.records.dead_letters()}[key]


# -- one copy per dead-lettering ------------------------------------------------------------


def test_a_message_seen_again_after_its_copy_was_confirmed_sends_nothing(inbound):
    [letter] = inbound.apply([refused()])
    inbound.sent([letter])
    assert (record(inbound).published, record(inbound).attempts) == (True, 1)
    # a redelivery, or the same message published again
    assert inbound.apply([refused()]) == []
    assert record(inbound).attempts == 1


def test_a_message_twice_in_one_batch_has_one_copy(inbound):
    assert len(inbound.apply([refused(), refused()])) == 1


def test_a_copy_not_confirmed_goes_whole_again_then_bare_then_not_at_all(inbound):
    given_up = metrics.DEAD_LETTERS_UNPUBLISHED._value.get()
    [first] = inbound.apply([refused(trace="t-1")])
    assert (first.send.number, first.send.bare) == (1, False) and first.headers.get(t.HEADERS_DROPPED) is None
    # Given the process died before the broker confirmed it (nothing recorded of the send):
    # a redelivery sends it again, whole, recorded first
    [again] = inbound.apply([refused(trace="t-1")])
    assert (again.send.number, again.send.bare) == (1, False)
    assert again.properties().headers["trace"] == "t-1"
    # When the broker closes the connection as it is sent
    inbound.not_sent([(again, "the broker closed the connection: 501 FRAME_ERROR")])
    # Then the next redelivery sends it bare, saying so, and its record says so too
    [bare] = inbound.apply([refused(trace="t-1")])
    assert (bare.send.number, bare.send.bare) == (2, True)
    assert "trace" not in bare.properties().headers
    assert bare.properties().headers[t.HEADERS_DROPPED] is True
    assert bare.properties().correlation_id is None and bare.properties().content_type == "application/json"
    assert record(inbound).headers_dropped is True
    # and when that fails too, the one after is not sent: acknowledged, given up, counted
    inbound.not_sent([(bare, "the broker closed the connection: 501 FRAME_ERROR")])
    assert inbound.apply([refused(trace="t-1")]) == []
    letter = record(inbound)
    assert (letter.published, letter.sends, letter.attempts) == (False, 2, 1)
    assert "FRAME_ERROR" in letter.publish_error
    assert metrics.DEAD_LETTERS_UNPUBLISHED._value.get() == given_up + 1
    assert inbound.apply([refused(trace="t-1")]) == []  # and stays so, counted once
    assert metrics.DEAD_LETTERS_UNPUBLISHED._value.get() == given_up + 1


def test_a_re_drive_of_a_letter_given_up_is_a_new_dead_lettering_sent_whole(inbound):
    [letter] = inbound.apply([refused()])
    for _ in range(2):
        inbound.not_sent([(letter, "nacked by the broker")])
        letter = (inbound.resend([letter]) or [letter])[0]
    assert record(inbound).published is False
    inbound.records.requeued(record(inbound).id, "alice")
    [again] = inbound.apply([refused()])
    assert (again.send.attempt, again.send.number, again.send.bare) == (2, 1, False)
    inbound.sent([again])
    assert (record(inbound).published, record(inbound).attempts) == (True, 2)


def test_a_parked_message_whose_copy_was_confirmed_is_released_without_another(inbound, memory_towns, config):
    early = envelope("application.city_verified", message_id="m-early")
    inbound.apply([Delivery(encode(early), "m-early", "shunde-city", early["type"])])
    [parked] = inbound.records.open_parked()
    later = parked.first_seen + timedelta(seconds=WINDOW + 1)
    [letter] = inbound.expire(now=later)
    # Given the broker confirmed it and that was recorded, but the process died before the
    # parked record was released
    inbound.records.sent([(letter.letter_id, letter.send)])
    restarted = Inbound(memory_towns, config, InboundRecords(memory_towns), WINDOW, "svc")
    # When the restarted consumer expires it again, Then it sends nothing and releases it
    assert restarted.expire(now=later) == []
    assert restarted.records.open_parked() == [] and restarted.unsent == {}


# -- bounded ---------------------------------------------------------------------------------


def test_the_detail_is_cut_to_1024_characters(inbound):
    value = {**envelope("application.submitted", message_id="m-type"), "type": "x" * 200_000}
    [letter] = inbound.apply([Delivery(encode(value), "m-type", "shunde-applicant", "x")])
    assert len(letter.headers[t.DETAIL]) <= t.DETAIL_LIMIT
    assert record(inbound, "m-type").detail == letter.headers[t.DETAIL]


def test_publisher_headers_over_the_budget_are_dropped_from_letter_and_record(inbound):
    [letter] = inbound.apply([refused(pad="A" * 130_000, small="s")])
    sent = letter.properties()
    assert "pad" not in sent.headers and "small" not in sent.headers
    assert sent.headers[t.HEADERS_DROPPED] is True and letter.send.bare
    assert len(sent.encode()[0]) < 8 * 1024  # no frame trouble
    stored = record(inbound)
    assert stored.headers_dropped and "headers" not in properties.decode(stored.properties)


def test_headers_within_the_budget_stay(inbound):
    [letter] = inbound.apply([refused(pad="A" * 60_000)])
    assert letter.properties().headers["pad"] == "A" * 60_000
    assert t.HEADERS_DROPPED not in letter.properties().headers


def test_a_body_over_256_kib_is_stored_as_its_length_and_digest_only(inbound):
    body = json.dumps({"message_id": "m-big", "pad": "x" * 5_000_000}).encode()
    [letter] = inbound.apply([Delivery(body, "m-big", None, "application.submitted")])
    assert letter.body == body  # the broker's copy is whole
    stored = record(inbound, "m-big")
    assert (stored.body, stored.body_encoding) == (None, None)
    assert (stored.body_length, stored.body_sha256) == (len(body), hashlib.sha256(body).hexdigest())
    # the same 5 MB again is the same message: one record, no other key
    inbound.apply([Delivery(body, "m-big", None, "application.submitted")])
    assert [x.key for x in inbound.records.dead_letters()] == ["m-big"]


def test_a_message_over_256_kib_is_never_parked(inbound):
    """Parking needs a message that was read and checked: a large one is malformed first."""
    value = envelope("application.city_verified", ref="SD-NEVER", message_id="m-huge-early")
    value["payload"]["notes"] = "n" * 300_000
    [letter] = inbound.apply([Delivery(encode(value), "m-huge-early", "shunde-city", value["type"])])
    assert letter.headers[t.ERROR] == "malformed" and inbound.records.open_parked() == []
    assert record(inbound, "m-huge-early").body is None


# -- the consumer's sends ---------------------------------------------------------------------


class ScriptedChannel:
    """Answers each publish as scripted: None (confirmed), or the error to raise."""

    def __init__(self, *answers) -> None:
        self.answers = list(answers)
        self.published: list[pika.BasicProperties] = []
        self.declared = 0

    def basic_publish(self, exchange, routing_key, body, props, mandatory=False) -> None:
        self.published.append(props)
        answer = self.answers.pop(0) if self.answers else None
        if answer is not None:
            raise answer

    def exchange_declare(self, *args, **kwargs) -> None:
        self.declared += 1

    queue_declare = queue_bind = exchange_declare


def test_a_letter_the_broker_nacks_goes_bare_then_is_given_up_on_the_same_channel(inbound):
    consumer = Consumer(inbound, "amqp://unused")
    channel = ScriptedChannel(NackError([]), NackError([]))
    [letter] = inbound.apply([refused(trace="t-1")])
    consumer._publish(FakeConnection(), channel, [letter])
    assert [p.headers.get("trace") for p in channel.published] == ["t-1", None]
    assert channel.declared  # the topology again before the second send
    stored = record(inbound)
    assert (stored.published, stored.sends) == (False, 2) and "nacked" in stored.publish_error


def test_a_channel_closed_as_a_letter_is_sent_is_recorded_before_the_error_goes_on(inbound):
    consumer = Consumer(inbound, "amqp://unused")
    closed = ChannelClosedByBroker(403, "ACCESS_REFUSED - write access refused")
    channel = ScriptedChannel(None, closed)
    letters = inbound.apply([refused("m-a"), refused("m-b")])
    with pytest.raises(ChannelClosedByBroker):
        consumer._publish(FakeConnection(), channel, letters)
    # the first was confirmed and that is known; the second failed and that is known
    assert record(inbound, "m-a").published is True
    failed = record(inbound, "m-b")
    assert (failed.published, failed.sends) == (None, 1) and "403" in failed.publish_error
    # so the redelivered batch sends only the second, bare
    [again] = inbound.apply([refused("m-a"), refused("m-b")])
    assert (again.message_id, again.send.bare) == ("m-b", True)


def test_a_confirmation_is_recorded_even_when_the_letter_changed_since_it_was_read(inbound):
    [letter] = inbound.apply([refused()])
    # Given an operator re-drove it meanwhile (the copy this process holds is stale)
    inbound.records.requeued(letter.letter_id, "alice")
    # When the broker's confirmation is recorded, Then it is, on the letter as it stands now
    inbound.sent([letter])
    stored = record(inbound)
    assert (stored.published, stored.open, [r["by"] for r in stored.requeues]) == (True, False, ["alice"])


def test_a_parked_message_with_headers_over_the_budget_is_dead_lettered_without_them(inbound):
    early = envelope("application.city_verified", message_id="m-wide-early")
    amqp = pika.BasicProperties(message_id="m-wide-early", headers={"pad": "A" * 130_000})
    inbound.apply([Delivery(encode(early), "m-wide-early", "shunde-city", early["type"],
                            {"pad": "A" * 130_000}, amqp=amqp)])
    [parked] = inbound.records.open_parked()
    assert "headers" not in properties.decode(parked.properties)
    [letter] = inbound.expire(now=parked.first_seen + timedelta(seconds=WINDOW))
    assert letter.properties().headers[t.HEADERS_DROPPED] is True
    assert "pad" not in letter.properties().headers
    assert record(inbound, "m-wide-early").headers_dropped is True
