"""Re-drives followed to what really happened, against the real RabbitMQ (a virtual host per
test), PostgreSQL and a running ``towns consume``: ``POST /api/v1/ops/dead-letters/requeue``
answers a ``redrive_id``; ``GET /api/v1/ops/redrives/{id}`` says per letter applied, duplicate
or dead-lettered again (with the code and detail); a bulk re-drive by code takes only that code,
bounded by ``limit``; ``GET /api/v1/ops/redrives`` is the history, who, when and the result."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from adapters.http import create_app
from tests.amqp_fixtures import rabbitmq  # noqa: F401 - fixture: the broker answers
from tests.factories import envelope
from tests.integration.rabbit import (
    Consumers,
    Rabbit,
    Store,
    consumers,  # noqa: F401 - fixture
    eventually,
    own_vhost,
    store,  # noqa: F401 - fixture
)

OPERATOR = {"Authorization": "Bearer demo-operator"}
APPLICANT = {"Authorization": "Bearer demo-shunde-applicant"}


@pytest.fixture
def broker(rabbitmq) -> Iterator[Rabbit]:  # noqa: F811
    with own_vhost("towns-redrive-outcomes") as found:
        yield found


def letter(store: Store, body: dict, code: str, detail: str, user_id: str | None = "shunde-applicant") -> str:
    """A dead letter as the consumer records one; its id."""
    raw = json.dumps(body).encode()
    dispatch = store.records.dead_letter(
        body["message_id"], body["message_id"], code, detail, raw, user_id, body["type"],
        datetime(2017, 3, 20, 9, 0, tzinfo=UTC))
    return str(dispatch.letter.id)


def follow(client, redrive_id: str) -> dict:
    found: dict = {}

    def settled() -> bool:
        answer = client.get(f"/api/v1/ops/redrives/{redrive_id}", headers=OPERATOR)
        assert answer.status_code == 200, answer.get_data(as_text=True)
        found.update(answer.get_json())
        return all(item["outcome"]["state"] != "pending" for item in found["letters"])

    eventually(settled, 60, what="every re-driven letter taken by the consumer")
    return found


def test_a_re_drive_says_applied_duplicate_or_dead_lettered_again(
        broker, store: Store, consumers: Consumers, config, monkeypatch):
    # Given three dead letters: one that now applies, one whose message was applied meanwhile
    # over HTTP, and one that is refused again
    fits = envelope("application.submitted", "SD-RD-001", message_id="rd-fits")
    applied_meanwhile = envelope("application.submitted", "SD-RD-002", message_id="rd-dup")
    refused = {**envelope("application.submitted", "SD-RD-003", message_id="rd-again"),
               "type": "application.teleported"}
    ids = {
        "fits": letter(store, fits, "unavailable", "the store did not answer"),
        "dup": letter(store, applied_meanwhile, "unavailable", "the store did not answer"),
        "again": letter(store, refused, "unknown_type", "unknown event type"),
    }
    monkeypatch.setenv("TOWNS_AMQP_URL", broker.url)
    client = create_app(store.towns, config).test_client()
    posted = client.post("/api/v1/events", json=applied_meanwhile, headers=APPLICANT)
    assert posted.status_code == 200, posted.get_data(as_text=True)
    consumers.start(broker.url, store.url)

    # When the operator re-drives each on its own
    outcomes = {}
    for name, letter_id in ids.items():
        answer = client.post("/api/v1/ops/dead-letters/requeue", json={"ids": [letter_id]},
                             headers=OPERATOR)
        assert answer.status_code == 200, answer.get_data(as_text=True)
        body = answer.get_json()
        assert body["requeued"] == 1 and body["ids"] == [letter_id] and body["redrive_id"]
        [item] = follow(client, body["redrive_id"])["letters"]
        outcomes[name] = item["outcome"]

    # Then each says what really happened
    assert outcomes["fits"]["state"] == "applied"
    assert store.types("SD-RD-001") == ["application.submitted"]
    assert outcomes["dup"]["state"] == "duplicate"
    assert outcomes["again"]["state"] == "dead_lettered_again"
    assert outcomes["again"]["code"] == "unknown_type" and outcomes["again"]["detail"]
    assert all(o["by"] == "operator" and o["requeued_at"] for o in outcomes.values())
    again = store.records.letter(store.dead_letters()["rd-again"].id)
    assert again.open and again.attempts == 2
    # and the history lists the three, newest first, with who and the result
    history = client.get("/api/v1/ops/redrives", headers=OPERATOR).get_json()["items"]
    assert [h["letters"][0]["id"] for h in history] == [ids["again"], ids["dup"], ids["fits"]]
    assert [h["outcomes"] for h in history] == [
        {"dead_lettered_again": 1}, {"duplicate": 1}, {"applied": 1}]
    assert all(h["by"] == "operator" and h["count"] == 1 for h in history)
    assert history[0]["at"] > history[2]["at"]
    assert client.get("/api/v1/ops/redrives", headers={
        "Authorization": "Bearer demo-auditor"}).status_code == 403
    missing = client.get("/api/v1/ops/redrives/5f0e5e6e-1f1a-4c55-9d5a-6a4c0f8b8c11",
                         headers=OPERATOR)
    assert missing.status_code == 404


def test_a_bulk_re_drive_takes_one_code_and_is_bounded(
        broker, store: Store, consumers: Consumers, config, monkeypatch):
    # Given three letters refused as unknown_type and one as unauthenticated
    for i in range(3):
        letter(store, {**envelope("application.submitted", f"SD-BULK-{i}", message_id=f"bulk-{i}"),
                       "type": "application.archived"}, "unknown_type", "unknown event type")
    other = letter(store, envelope("application.submitted", "SD-BULK-9", message_id="bulk-9"),
                   "unauthenticated", "no user_id", user_id=None)
    monkeypatch.setenv("TOWNS_AMQP_URL", broker.url)
    client = create_app(store.towns, config).test_client()
    codes = client.get("/api/v1/ops/dead-letters/codes", headers=OPERATOR).get_json()
    assert codes["codes"] == {"unknown_type": 3, "unauthenticated": 1} and codes["open"] == 4
    consumers.start(broker.url, store.url)

    # When the operator re-drives the code, two at most
    answer = client.post("/api/v1/ops/dead-letters/requeue",
                         json={"all": True, "code": "unknown_type", "limit": 2,
                               "reason": "the type is known now"}, headers=OPERATOR)

    # Then the first two of that code went, and the answer says one more remains
    assert answer.status_code == 200, answer.get_data(as_text=True)
    body = answer.get_json()
    assert (body["requeued"], body["limit"], body["remaining"]) == (2, 2, 1)
    assert other not in body["ids"]
    redrive = follow(client, body["redrive_id"])
    assert redrive["filter"] == {"code": "unknown_type"} and redrive["count"] == 2
    assert redrive["reason"] == "the type is known now"
    assert redrive["outcomes"] == {"dead_lettered_again": 2}
    assert {i["message_id"] for i in redrive["letters"]} == {"bulk-0", "bulk-1"}
    assert store.records.letter(store.dead_letters()["bulk-9"].id).open  # another code: untouched
    # A limit outside 1-500, or code with ids, is refused
    for wrong in ({"all": True, "limit": 501}, {"all": True, "limit": 0},
                  {"ids": [other], "code": "unknown_type"}, {"all": True, "code": 7}):
        refused = client.post("/api/v1/ops/dead-letters/requeue", json=wrong, headers=OPERATOR)
        assert refused.status_code == 422, wrong
