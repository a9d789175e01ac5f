"""Replies to a RabbitMQ message's ``reply_to`` without a broker: the body of each outcome, what
``reply_to`` is refused, and which replies ``Inbound`` owes after a batch or a retry of a parked
message (``adapters.amqp.replies``; sent by ``adapters.amqp.reply_sender``, tested against the
real broker in tests/integration/test_amqp_replies.py)."""

from __future__ import annotations

import json
from datetime import timedelta

import pika
import pytest

from adapters.amqp import topology as t
from adapters.amqp.delivery import utcnow
from adapters.amqp.inbound import Delivery, Inbound
from adapters.amqp.replies import (
    DETAIL_LIMIT,
    REPLY_MAX_BYTES,
    correlation_id,
    reply,
    reply_body,
    reply_queue,
)
from adapters.store.inbound_records import InboundRecords
from domain.commands import Outcome
from domain.errors import InvalidTransition, SchemaInvalid
from tests.factories import encode, envelope

OUTCOME = Outcome("GD-ITOWN-2017-B2", "SD-2017-001", "submitted", 1)


# -- the body ---------------------------------------------------------------------------------


def test_an_applied_message_replies_the_application_as_it_stands():
    assert json.loads(reply_body("m-1", OUTCOME)) == {
        "message_id": "m-1", "outcome": "applied", "call_id": "GD-ITOWN-2017-B2",
        "application_ref": "SD-2017-001", "status": "submitted", "version": 1,
    }


def test_a_duplicate_replies_duplicate_with_the_application_as_it_stands_now():
    body = json.loads(reply_body("m-1", Outcome("C", "R", "returned", 2, duplicate=True)))
    assert (body["outcome"], body["status"], body["version"]) == ("duplicate", "returned", 2)


def test_a_refusal_replies_its_code_and_detail():
    error = SchemaInvalid("payload.town_name: Missing data for required field.",
                          {"payload.town_name": ["Missing data for required field."]})
    assert json.loads(reply_body("m-2", error)) == {
        "message_id": "m-2", "outcome": "refused", "code": "schema_invalid",
        "detail": "payload.town_name: Missing data for required field.",
    }


def test_a_refusal_replies_the_code_and_detail_of_its_dead_letter_record_when_given():
    body = json.loads(reply_body("m-3", InvalidTransition("now"), "unknown_application", "then"))
    assert (body["code"], body["detail"]) == ("unknown_application", "then")


def test_the_detail_is_cut_to_the_dead_letters_limit():
    body = json.loads(reply_body("m-4", SchemaInvalid("x"), detail="y" * 5000))
    assert len(body["detail"]) == DETAIL_LIMIT and body["detail"].startswith("yyy")


def test_the_body_stays_bounded_whatever_the_detail_and_id_hold():
    # every character escaped by JSON: six bytes each
    body = reply_body("\x01" * 255, SchemaInvalid("x"), detail="\x02" * 10_000)
    assert len(body) <= REPLY_MAX_BYTES
    assert json.loads(body)["outcome"] == "refused"


def test_a_message_without_an_id_replies_with_a_null_id_and_no_correlation_id():
    out = reply("answers", None, OUTCOME)
    assert json.loads(out.body)["message_id"] is None
    assert out.correlation_id is None and out.properties().correlation_id is None


def test_the_reply_is_persistent_json_correlated_by_the_message_id_from_the_service_user():
    out = reply("answers", "m-5", OUTCOME)
    props = out.properties("towns-service")
    assert (props.content_type, props.delivery_mode, props.correlation_id, props.user_id) == (
        "application/json", 2, "m-5", "towns-service")
    assert props.message_id and props.message_id != "m-5"


def test_an_id_too_long_for_a_short_string_is_not_a_correlation_id():
    assert correlation_id("é" * 128) is None
    assert correlation_id("a" * 255) == "a" * 255


# -- reply_to ---------------------------------------------------------------------------------


@pytest.mark.parametrize("value", [None, ""])
def test_no_reply_to_asks_for_no_reply(value):
    assert reply_queue(value) == (None, None)
    assert reply(value, "m", OUTCOME) is None


@pytest.mark.parametrize("value", ["answers", "amq.gen-JzTY20BRgKO-HjmUJj0wLg", "a b", "回复"])
def test_a_queue_name_is_taken(value):
    assert reply_queue(value) == (value, None)


@pytest.mark.parametrize("value, why", [
    ("q" * 256, "longer than 255 bytes"),
    ("é" * 128, "longer than 255 bytes"),
    (b"\xff\xfe", "not UTF-8"),
    ("line\nbreak", "control character"),
    ("bell\x07", "control character"),
    (" padded", "white space"),
    ("amq.rabbitmq.reply-to", "direct reply-to"),
    ("amq.rabbitmq.reply-to.g1h2AA5yZXBseUAxNTIwMjU5NAAAB2YAAAAAXs1MlQ==.x", "direct reply-to"),
    ("amq.direct", "reserved by RabbitMQ"),
    (t.QUEUE, "a queue of the service"),
    (t.DEAD_QUEUE, "a queue of the service"),
])
def test_a_hostile_reply_to_is_refused_and_says_why(value, why):
    queue, reason = reply_queue(value)
    assert queue is None and why in reason
    out = reply(value, "m", OUTCOME)
    assert out.queue is None and why in out.refused


# -- what Inbound owes ------------------------------------------------------------------------


@pytest.fixture
def inbound(memory_towns, config) -> Inbound:
    return Inbound(memory_towns, config, InboundRecords(memory_towns), 60, service_user="svc")


def delivery(value: dict, user: str, reply_to: str | None = "answers", tag: int = 1) -> Delivery:
    amqp = pika.BasicProperties(message_id=value["message_id"], reply_to=reply_to,
                                content_type="application/json")
    return Delivery(encode(value), value["message_id"], user, value["type"], {},
                    "application/json", tag, amqp=amqp)


def owed(inbound: Inbound) -> list[tuple[str | None, str | None, dict]]:
    return [(r.queue, r.correlation_id, json.loads(r.body)) for r in inbound.take_replies()]


def test_a_batch_owes_one_reply_per_message_asking_for_one(inbound):
    submit = envelope("application.submitted", "SD-RPL-001", message_id="rpl-1")
    silent = envelope("application.submitted", "SD-RPL-002", message_id="rpl-2")
    wrong = {**envelope("application.submitted", "SD-RPL-003", message_id="rpl-3"), "call_id": "NOPE"}
    inbound.apply([delivery(submit, "shunde-applicant"),
                   delivery(silent, "shunde-applicant", reply_to=None, tag=2),
                   delivery(wrong, "shunde-applicant", tag=3),
                   delivery(submit, "shunde-applicant", tag=4)])
    replies = owed(inbound)
    assert [(q, c, b["outcome"]) for q, c, b in replies] == [
        ("answers", "rpl-1", "applied"), ("answers", "rpl-3", "refused"),
        ("answers", "rpl-1", "duplicate")]
    assert replies[1][2]["code"] == "unknown_call"
    assert replies[1][2]["detail"] == inbound.records.dead_letters()[0].detail
    assert inbound.take_replies() == []  # handed over once


def test_a_parked_message_owes_its_reply_when_applied_not_when_parked(inbound):
    verify = envelope("application.city_verified", "SD-RPL-010", message_id="rpl-10")
    inbound.apply([delivery(verify, "shunde-city")])
    assert inbound.parked_count == 1 and owed(inbound) == []
    inbound.apply([delivery(envelope("application.submitted", "SD-RPL-010", message_id="rpl-11"),
                            "shunde-applicant", reply_to=None, tag=2)])
    [(queue, correlation, body)] = owed(inbound)
    assert (queue, correlation, body["outcome"], body["status"]) == (
        "answers", "rpl-10", "applied", "city_verified")


def test_a_parked_message_refused_for_good_owes_its_refusal(inbound):
    verify = envelope("application.city_verified", "SD-RPL-020", message_id="rpl-20")
    inbound.apply([delivery(verify, "shunde-city")])
    inbound.expire(utcnow() + timedelta(seconds=61))
    [(queue, correlation, body)] = owed(inbound)
    assert (queue, correlation, body["outcome"], body["code"]) == (
        "answers", "rpl-20", "refused", "unknown_application")


def test_a_hostile_reply_to_is_owed_as_refused_and_the_message_applied(inbound):
    submit = envelope("application.submitted", "SD-RPL-030", message_id="rpl-30")
    inbound.apply([delivery(submit, "shunde-applicant", reply_to=t.QUEUE)])
    [out] = inbound.take_replies()
    assert out.queue is None and "a queue of the service" in out.refused
    assert inbound.applied == 1
