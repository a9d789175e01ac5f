"""The parts of `towns publish` that need no broker: what goes on the wire, pacing, and the
bookkeeping of asynchronous confirms."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest
from pika import spec

from adapters.amqp.publisher import (
    Outgoing,
    Publisher,
    TokenBucket,
    message_id,
    outgoing,
    routing_key,
)
from adapters.inbound.batch import DeadlineCheckRequest, Message
from adapters.cli import parser


@pytest.mark.parametrize("body, key", [
    (b'{"type": "application.submitted"}', "application.submitted"),
    (b'{"type": 3}', "unknown"),
    (b'{"no": "type"}', "unknown"),
    (b'["type"]', "unknown"),
    (b"{not json", "unknown"),
    (b"\xff\xfe", "unknown"),
    (json.dumps({"type": "x" * 256}).encode(), "unknown"),  # more than an AMQP short string
])
def test_the_routing_key_is_the_envelope_type(body, key):
    assert routing_key(body) == key


@pytest.mark.parametrize("body, expected", [
    (b'{"message_id": "m-1"}', "m-1"),
    (b'{"message_id": 7}', None),
    (b'{"message_id": ""}', None),
    (b"raw", None),
    (json.dumps({"message_id": "x" * 300}).encode(), None),
])
def test_the_message_id_is_the_envelopes_when_amqp_can_carry_it(body, expected):
    assert message_id(body) == expected


def test_each_line_goes_as_its_principals_amqp_user_or_the_connecting_user(config):
    body = b'{"message_id": "m", "type": "materials.received"}'
    items = [
        Message(1, config.principals["province"], "province", body),
        Message(2, config.principals["auditor"], "auditor", body),  # no amqp_user
        Message(3, None, "nobody", body),
        DeadlineCheckRequest(4, "GD-ITOWN-2017-B2", None),
    ]
    messages, skipped = outgoing(items, "gateway")
    assert [m.user_id for m in messages] == ["province", "gateway", "gateway"]
    assert skipped == 1
    assert messages[0] == Outgoing(body, "materials.received", "m", "province")


def test_the_token_bucket_paces_at_the_rate():
    now = [0.0]
    bucket = TokenBucket(50, clock=lambda: now[0])
    assert bucket.delay() == 0
    bucket.take()
    assert bucket.delay() == pytest.approx(0.02)
    now[0] += 0.02
    assert bucket.delay() == 0
    bucket.take()
    now[0] += 10  # idle time saves up at most the burst
    bucket.delay()
    bucket.take()
    assert bucket.delay() > 0


def _publisher(outstanding: int) -> Publisher:
    publisher = Publisher("amqp://x", [])
    publisher._outstanding = dict.fromkeys(range(1, outstanding + 1))
    publisher._state = "closing"  # no pumping, no connection needed
    publisher.report.published = outstanding
    return publisher


def _frame(method) -> SimpleNamespace:
    return SimpleNamespace(method=method)


def test_a_multiple_ack_settles_every_tag_up_to_it():
    publisher = _publisher(5)
    publisher._on_confirm(_frame(spec.Basic.Ack(delivery_tag=3, multiple=True)))
    assert list(publisher._outstanding) == [4, 5]
    publisher._on_confirm(_frame(spec.Basic.Nack(delivery_tag=5, multiple=False)))
    assert list(publisher._outstanding) == [4]
    publisher._on_confirm(_frame(spec.Basic.Ack(delivery_tag=4, multiple=False)))
    assert (publisher.report.acked, publisher.report.nacked) == (4, 1)
    assert not publisher._outstanding


def test_a_multiple_ack_of_tag_zero_settles_all():
    publisher = _publisher(3)
    publisher._on_confirm(_frame(spec.Basic.Ack(delivery_tag=0, multiple=True)))
    assert publisher.report.acked == 3 and not publisher._outstanding


def test_the_summary_counts_returned_messages_apart_from_confirmed_ones():
    publisher = _publisher(4)
    publisher._on_return(None, SimpleNamespace(reply_code=312, reply_text="NO_ROUTE"), None, b"")
    publisher._on_confirm(_frame(spec.Basic.Ack(delivery_tag=4, multiple=True)))
    report = publisher.report
    assert report.line() == "published 4: confirmed 3, returned 1, failed 0"
    assert not report.ok and "unroutable" in report.reason()


@pytest.mark.parametrize("rate, ok", [("50", True), ("0", True), ("2.5", True), ("-1", False), ("x", False)])
def test_the_rate_is_a_number_of_messages_per_second(rate, ok, capsys):
    if ok:
        assert parser().parse_args(["publish", "f.jsonl", "--rate", rate]).rate == float(rate)
    else:
        with pytest.raises(SystemExit) as exit_:
            parser().parse_args(["publish", "f.jsonl", "--rate", rate])
        assert exit_.value.code == 2
