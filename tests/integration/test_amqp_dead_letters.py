"""Every error code of the contract, round-tripped through the real RabbitMQ and PostgreSQL with
``towns consume`` as a process: each refused message lands in ``towns.inbound.dead`` unchanged,
with its code, a detail naming the field or rule, and the original user, routing key and
first-seen time in headers; the database lists it; the application's history does not.

One stream carries every case (the early ones expire after a one-second reorder window); each
case is then checked by its own test.
"""

from __future__ import annotations

import base64
import dataclasses
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Iterator

import pytest

from adapters.amqp import topology as t
from adapters.bootstrap import build_towns
from domain.inbox import InboxMessage
from tests.factories import at, envelope
from tests.integration.rabbit import (
    Consumers,
    Message,
    Rabbit,
    Received,
    Store,
    eventually,
    message,
    rabbit,  # noqa: F401 - fixture
)
from tests.support import fresh_schema


def _without(field: str, value: dict) -> dict:
    del value["payload"][field]
    return value


def _with_properties(sent: Message) -> Message:
    """The message with more of what a publisher may set, and a forged service header."""
    return dataclasses.replace(
        sent,
        headers={"trace": f"trace-{sent.message_id}", "hops": 2, t.ERROR: "forged"},
        properties={"correlation_id": f"corr-{sent.message_id}", "content_encoding": "identity",
                    "app_id": "upstream-desk", "timestamp": 1488330000, "priority": 3,
                    "expiration": "600000"},
    )


SUBMIT_1 = envelope("application.submitted", "SD-DL-001", message_id="dl-submit-1")
SETUP = [
    message(SUBMIT_1, "shunde-applicant"),
    message(envelope("application.submitted", "SD-DL-002", message_id="dl-submit-2"), "shunde-applicant"),
    message(envelope("application.city_verified", "SD-DL-002", message_id="dl-verify-2"), "shunde-city"),
    message(envelope("application.recommended", "SD-DL-002", message_id="dl-recommend-2"), "shunde-city"),
]


@dataclass(frozen=True)
class Case:
    name: str
    code: str
    message: Message
    ref: str | None = None  # the application the message names, when it names one
    detail: str = ""  # a word the detail must carry


CASES = [
    Case("no user_id", "unauthenticated",
         message(envelope("application.submitted", "SD-DL-U01", message_id="dl-no-user"), None),
         "SD-DL-U01"),
    Case("unknown user", "unauthenticated",
         message(envelope("application.submitted", "SD-DL-U02", message_id="dl-stranger"), "stranger"),
         "SD-DL-U02"),
    Case("not JSON", "malformed",
         message(b'{"message_id": "dl-not-json", ', "shunde-applicant", "application.submitted",
                 "dl-not-json"), detail="JSON"),
    Case("not UTF-8", "malformed",
         message(b"\xff\xfe{\x00}", "shunde-applicant", "application.submitted", "dl-not-utf8"),
         detail="UTF-8"),
    Case("not an object, no message_id", "malformed",
         message(b"[1, 2, 3]", "shunde-applicant", "application.submitted"), detail="object"),
    Case("missing field", "schema_invalid",
         message(_without("town_name", envelope("application.submitted", "SD-DL-S01",
                                                message_id="dl-schema")), "shunde-applicant"),
         "SD-DL-S01", "payload.town_name"),
    Case("unknown type", "unknown_type",
         message({**envelope("application.submitted", "SD-DL-T01", message_id="dl-type"),
                  "type": "application.teleported"}, "shunde-applicant"),
         "SD-DL-T01", "application.teleported"),
    Case("unknown call", "unknown_call",
         _with_properties(message({**envelope("application.submitted", "SD-DL-C01", message_id="dl-call"),
                                   "call_id": "GD-NOPE-2099"}, "shunde-applicant")),
         detail="GD-NOPE-2099"),
    Case("another city's application", "forbidden",
         message(envelope("application.city_verified", "SD-DL-001", city="foshan",
                          message_id="dl-forbidden"), "foshan-city"), "SD-DL-001", "foshan"),
    Case("never submitted", "unknown_application",
         _with_properties(message(envelope("application.city_verified", "SD-DL-NEVER",
                                           message_id="dl-unknown-app"), "shunde-city")),
         "SD-DL-NEVER", "SD-DL-NEVER"),
    Case("approval of a submission", "invalid_transition",
         message(envelope("application.approved", "SD-DL-001", message_id="dl-transition"),
                 "province"), "SD-DL-001", "submitted"),
    Case("evaluation without materials", "precondition_failed",
         message(envelope("application.evaluated", "SD-DL-002", message_id="dl-precondition"),
                 "province"), "SD-DL-002", "materials"),
    Case("same message_id, other body", "idempotency_conflict",
         message({**SUBMIT_1, "payload": {**SUBMIT_1["payload"], "town_name": "Lecong Town"}},
                 "shunde-applicant"), "SD-DL-001", "dl-submit-1"),
    Case("submitted after the cutoff", "deadline_passed",
         message(envelope("application.submitted", "SD-DL-LATE", occurred_at=at(2, month=4),
                          message_id="dl-late"), "shunde-applicant"), "SD-DL-LATE", "cutoff"),
]


@dataclass
class Outcome:
    store: Store
    letters: list[Received]
    started: datetime
    finished: datetime
    inbound_left: int

    def letter(self, case: Case) -> Received:
        found = [r for r in self.letters if r.body == case.message.body]
        assert len(found) == 1, f"{len(found)} dead letters with the body of {case.name!r}"
        return found[0]


@pytest.fixture(scope="module")
def outcome(rabbit: Rabbit, config, postgres_url, tmp_path_factory) -> Iterator[Outcome]:
    """Publishes the set-up and every case, waits for every dead letter, then stops the consumer."""
    consumers = Consumers(tmp_path_factory.mktemp("dead-letters"))
    with fresh_schema(postgres_url) as url:
        towns = build_towns(config, url)
        store = Store(towns, url)
        try:
            started = datetime.now(timezone.utc)
            consumers.start(rabbit.url, url, TOWNS_REORDER_WINDOW=1)
            rabbit.publish_all([*SETUP, *(case.message for case in CASES)])
            eventually(lambda: len(store.dead_letters()) == len(CASES) and not store.open_parked(),
                       30, 0.3, f"{len(CASES)} dead letters recorded and none parked")
            eventually(lambda: rabbit.depth(t.DEAD_QUEUE) >= len(CASES), 10,
                       what="every dead letter on towns.inbound.dead")
            assert consumers.started[0].stop() == 0
            finished = datetime.now(timezone.utc)
            yield Outcome(store, rabbit.take_all(t.DEAD_QUEUE), started, finished,
                          rabbit.settled(t.QUEUE))
        finally:
            consumers.close()
            store.close()


def test_the_set_up_is_applied_and_every_message_is_acknowledged(outcome: Outcome):
    assert outcome.store.types("SD-DL-001") == ["application.submitted"]
    assert outcome.store.types("SD-DL-002") == [
        "application.submitted", "application.city_verified", "application.recommended"]
    assert outcome.inbound_left == 0
    assert len(outcome.letters) == len(CASES)  # each case once, nothing else


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_the_refused_message_is_dead_lettered_unchanged_with_its_code(outcome: Outcome, case: Case):
    # Given the message was published as an upstream system would
    sent = case.message
    # When the consumer refused it, Then it sits in towns.inbound.dead as it was published
    letter = outcome.letter(case)
    assert letter.body == sent.body
    assert letter.message_id == sent.message_id
    assert letter.routing_key == sent.routing_key
    # with the code and a detail that names the field or rule
    assert letter.headers[t.ERROR] == case.code
    detail = letter.headers[t.DETAIL]
    assert isinstance(detail, str) and case.detail in detail
    # and the original user, routing key and first-seen time as headers
    assert letter.headers.get(t.USER_ID) == sent.user_id
    assert letter.headers[t.ROUTING_KEY] == sent.routing_key
    first_seen = datetime.fromisoformat(letter.headers[t.FIRST_SEEN])
    assert first_seen.utcoffset() is not None
    assert outcome.started - timedelta(seconds=1) <= first_seen <= outcome.finished


@pytest.mark.parametrize("case", [c for c in CASES if c.message.properties], ids=lambda c: c.name)
def test_a_dead_letter_keeps_the_publishers_properties_and_headers(outcome: Outcome, case: Case):
    """Refused at once or parked first: the letter carries what the publisher set, but the
    service's own headers, and never expires."""
    letter = outcome.letter(case)
    sent = case.message
    for name, value in sent.properties.items():
        if name != "expiration":
            assert getattr(letter.properties, name) == value, name
    assert letter.properties.expiration is None and letter.properties.delivery_mode == 2
    assert letter.properties.content_type == "application/json"
    assert (letter.headers["trace"], letter.headers["hops"]) == (sent.headers["trace"], 2)
    assert letter.headers[t.ERROR] == case.code  # not the forged one


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_the_database_lists_the_dead_letter(outcome: Outcome, case: Case):
    letter = outcome.letter(case)
    key = case.message.message_id or _sha256_key(case.message.body)
    record = outcome.store.dead_letters()[key]
    assert (record.code, record.detail) == (case.code, letter.headers[t.DETAIL])
    assert record.message_id == case.message.message_id
    assert record.user_id == case.message.user_id
    assert record.routing_key == case.message.routing_key
    assert record.first_seen.isoformat() == letter.headers[t.FIRST_SEEN]
    assert (record.attempts, record.open) == (1, True)
    if record.body_encoding == "base64":
        assert base64.b64decode(record.body) == case.message.body
    else:
        assert record.body.encode("utf-8") == case.message.body


@pytest.mark.parametrize("case", [c for c in CASES if c.ref], ids=[c.name for c in CASES if c.ref])
def test_nothing_is_recorded_in_the_application_history(outcome: Outcome, case: Case):
    history = outcome.store.history(case.ref)
    if case.code == "idempotency_conflict":
        # the first body stays; the second is only evidence on the inbox marker
        assert [e.message_id for e in history] == ["dl-submit-1"]
        assert history[0].data["town_name"] == SUBMIT_1["payload"]["town_name"]
        markers = outcome.store.marker_events("dl-submit-1")
        assert [type(e) for e in markers] == [InboxMessage.Applied, InboxMessage.ConflictSeen]
        assert markers[1].body["payload"]["town_name"] == "Lecong Town"
        return
    assert case.message.message_id not in [e.message_id for e in history]
    assert outcome.store.marker_events(case.message.message_id) == []
    if case.code not in ("forbidden", "invalid_transition", "precondition_failed"):
        assert history == []  # the reference was never applied at all


def _sha256_key(body: bytes) -> str:
    from domain.inbound import message_key

    return message_key(None, body)
