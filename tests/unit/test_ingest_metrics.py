"""``towns_ingest_messages_total`` counts each message of the consumer once by where it ends,
``parked`` when it is parked, and the retries of a parked message apart, in
``towns_ingest_retries_total``: however often the sweep tries a parked message, it is never
counted as a refusal until it is dead-lettered. (The counters are the process's; each test
reads what changed while it ran.)"""

from __future__ import annotations

from datetime import timedelta

import pytest
from prometheus_client import REGISTRY

from adapters.amqp.inbound import Delivery, Inbound
from adapters.inbound.ingest import ingest
from adapters.store.inbound_records import InboundRecords
from domain.errors import DomainError
from tests.factories import encode, envelope

WINDOW = 60
VERIFIED = "application.city_verified"
SUBMITTED = "application.submitted"


@pytest.fixture
def inbound(memory_towns, config) -> Inbound:
    return Inbound(memory_towns, config, InboundRecords(memory_towns), WINDOW)


def delivery(type_: str, user: str, ref: str = "SD-2017-001", **fields) -> Delivery:
    value = envelope(type_, ref, **fields)
    return Delivery(encode(value), value["message_id"], user, type_, {}, "application/json", 0)


class Counts:
    """The samples of the ingest counters, read as differences from when it was made."""

    def __init__(self) -> None:
        self.start = self._all()

    @staticmethod
    def _all() -> dict[tuple, float]:
        found = {}
        for metric in REGISTRY.collect():
            if metric.name in ("towns_ingest_messages", "towns_ingest_retries"):
                for s in metric.samples:
                    if s.name.endswith("_total"):
                        found[(s.name, *sorted(s.labels.items()))] = s.value
        return found

    def messages(self, type_: str, outcome: str, code: str = "none") -> float:
        return self._since(("towns_ingest_messages_total", ("code", code), ("outcome", outcome),
                            ("type", type_)))

    def retries(self, type_: str, result: str) -> float:
        return self._since(("towns_ingest_retries_total", ("result", result), ("type", type_)))

    def refusals(self) -> float:
        return sum(v - self.start.get(k, 0) for k, v in self._all().items()
                   if k[0] == "towns_ingest_messages_total" and ("outcome", "refused") in k)

    def _since(self, key: tuple) -> float:
        return self._all().get(key, 0) - self.start.get(key, 0)


def test_a_parked_message_retried_by_every_sweep_counts_once_parked_and_once_applied(inbound):
    counts = Counts()
    # Given a verification that arrives before its submission: parked
    inbound.apply([delivery(VERIFIED, "shunde-city")])
    [parked] = inbound.records.open_parked()
    # when the sweep tries it again and again within the window
    for seconds in range(1, 11):
        assert inbound.expire(now=parked.first_seen + timedelta(seconds=seconds)) == []
    # and its submission then arrives
    inbound.apply([delivery(SUBMITTED, "shunde-applicant")])
    # then it counted once as parked, once as applied, never as refused
    assert counts.messages(VERIFIED, "parked", "unknown_application") == 1
    assert counts.messages(VERIFIED, "applied") == 1
    assert counts.messages(SUBMITTED, "applied") == 1
    assert counts.refusals() == 0
    # and each try apart: ten that left it parked, one that applied it
    assert counts.retries(VERIFIED, "parked") == 10
    assert counts.retries(VERIFIED, "applied") == 1


def test_a_parked_message_dead_lettered_after_its_window_counts_one_refusal(inbound):
    counts = Counts()
    inbound.apply([delivery(VERIFIED, "shunde-city")])
    [parked] = inbound.records.open_parked()
    for seconds in range(1, 6):
        inbound.expire(now=parked.first_seen + timedelta(seconds=seconds))
    [letter] = inbound.expire(now=parked.first_seen + timedelta(seconds=WINDOW))
    assert letter.headers["x-towns-error"] == "unknown_application"
    assert counts.messages(VERIFIED, "parked", "unknown_application") == 1
    assert counts.messages(VERIFIED, "refused", "unknown_application") == 1
    assert counts.refusals() == 1
    assert counts.retries(VERIFIED, "parked") >= 5


def test_a_message_refused_outright_counts_one_refusal_and_none_parked(inbound):
    counts = Counts()
    # an applicant of shunde acting as a city: refused for good, dead-lettered at once
    [letter] = inbound.apply([delivery(VERIFIED, "shunde-applicant")])
    assert letter.headers["x-towns-error"] == "forbidden"
    assert counts.messages(VERIFIED, "refused", "forbidden") == 1
    assert counts.refusals() == 1
    assert counts.messages(VERIFIED, "parked", "forbidden") == 0


def test_a_duplicate_delivery_counts_as_a_duplicate(inbound):
    counts = Counts()
    first = delivery(SUBMITTED, "shunde-applicant")
    inbound.apply([first])
    inbound.apply([first])
    assert counts.messages(SUBMITTED, "applied") == 1
    assert counts.messages(SUBMITTED, "duplicate") == 1


def test_the_http_and_demo_path_still_counts_each_answer(memory_towns, config):
    counts = Counts()
    principal = config.principals["shunde-city"]
    with pytest.raises(DomainError):
        ingest(memory_towns, encode(envelope(VERIFIED)), principal)
    assert counts.messages(VERIFIED, "refused", "unknown_application") == 1
    assert counts.messages(VERIFIED, "parked", "unknown_application") == 0
