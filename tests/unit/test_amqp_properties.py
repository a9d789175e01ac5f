"""What a dead letter keeps of its message's AMQP properties and headers."""

from __future__ import annotations

from decimal import Decimal

import pika

from adapters.amqp import properties
from adapters.amqp import topology as t


def sent(**extra) -> pika.BasicProperties:
    return pika.BasicProperties(**{
        "message_id": "m-1", "user_id": "shunde-city", "content_type": "text/plain",
        "content_encoding": "gzip", "correlation_id": "c-1", "reply_to": "r", "type": "t",
        "app_id": "a", "timestamp": 1488330000, "priority": 3, "expiration": "60000",
        "delivery_mode": 1, **extra})


def test_a_letter_keeps_the_publishers_properties_but_not_what_the_service_sets():
    kept = properties.kept_of(sent(headers={"trace": "x", t.ERROR: "forged", "n": {"a": [1, "b"]}}))
    assert kept == {"content_type": "text/plain", "content_encoding": "gzip", "correlation_id": "c-1",
                    "reply_to": "r", "type": "t", "app_id": "a", "timestamp": 1488330000,
                    "priority": 3, "headers": {"trace": "x", "n": {"a": [1, "b"]}}}


def test_a_header_pika_cannot_send_again_is_left_out():
    kept = properties.kept_of(sent(headers={"float": 1.5, "nested": {"f": 2.5}, "dec": Decimal("1.5")}))
    assert kept["headers"] == {"dec": Decimal("1.5")}


def test_kept_properties_survive_a_record_exactly():
    kept = properties.kept_of(sent(headers={"bytes": b"\xff\x00", "dec": Decimal("1.25"), "t": True}))
    assert properties.decode(properties.encode(kept)) == kept
    assert properties.encode({}) == "" and properties.decode("") == {}


def test_a_letter_is_persistent_never_expires_and_carries_the_services_headers():
    kept = properties.kept_of(sent(headers={"trace": "x"}))
    letter = properties.letter_properties("m-1", kept, {t.ERROR: "unknown_call"})
    assert (letter.message_id, letter.user_id, letter.delivery_mode, letter.expiration) == (
        "m-1", None, 2, None)
    assert letter.headers == {"trace": "x", t.ERROR: "unknown_call"}
    assert letter.correlation_id == "c-1" and letter.content_type == "text/plain"


def test_without_pikas_properties_the_content_type_and_headers_given_are_kept():
    assert properties.kept_of(None, "application/json", {"trace": "x", t.USER_ID: "u"}) == {
        "content_type": "application/json", "headers": {"trace": "x"}}


def test_a_property_or_header_beyond_what_can_be_sent_again_is_left_out():
    kept = properties.kept_of(sent(timestamp=2**63, priority=300, headers={"big": 10**30, "ok": 1}))
    assert "timestamp" not in kept and "priority" not in kept and kept["headers"] == {"ok": 1}
    assert properties.decode(properties.encode(kept)) == kept
    properties.letter_properties("m-1", kept, {}).encode()
