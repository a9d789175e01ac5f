"""Re-drives followed to what really happened, against the real RabbitMQ (a virtual host per
test), PostgreSQL and a running ``towns consume``: ``POST /api/v1/ops/dead-letters/requeue``
answers a ``redrive_id``; ``GET /api/v1/ops/redrives/{id}`` says per letter applied, duplicate
or dead-lettered again (with the code and detail); a bulk re-drive by code takes only that code,
bounded by ``limit``, and one by a filter (code, type, ref, call, user, since, until) only the
letters every criterion matches, as the listing and the count show them, a bad value refused
(422) before anything moves; ``GET /api/v1/ops/redrives`` is the history, who, when and the
result."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from uuid import UUID

import pytest

from adapters.amqp import topology as t
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


FILTER = {"code": "unknown_call", "type": "application.submitted", "call": "NO-SUCH-CALL",
          "user": "shunde-applicant", "since": "2017-03-21T00:00:00+08:00",
          "until": "2017-03-22T00:00:00+08:00"}


def refused(store: Store, key: str, ref: str, *, code: str = "unknown_call",
            routing_key: str = "application.submitted", call: str = "NO-SUCH-CALL",
            user: str | None = "shunde-applicant", seen: str = "2017-03-21T10:00:00+08:00") -> str:
    """A dead letter of a submission to a call that does not exist (refused again as
    unknown_call when re-driven), recorded with these attributes; its id."""
    body = {**envelope("application.submitted", ref, message_id=key), "call_id": call}
    dispatch = store.records.dead_letter(key, key, code, "refused", json.dumps(body).encode(), user,
                                         routing_key, datetime.fromisoformat(seen))
    return str(dispatch.letter.id)


def test_a_filtered_bulk_re_drive_takes_only_the_letters_every_criterion_matches(
        broker, store: Store, consumers: Consumers, config, monkeypatch):
    # Given three letters that match a filter, and one beside it for each criterion
    matching = [refused(store, f"flt-{i}", f"SD-FLT-{i}") for i in range(3)]
    beside = {
        "code": refused(store, "flt-code", "SD-FLT-X1", code="unknown_type"),
        "type": refused(store, "flt-type", "SD-FLT-X2", routing_key="application.withdrawn"),
        "call": refused(store, "flt-call", "SD-FLT-X3", call="GD-ITOWN-2017-B2"),
        "user": refused(store, "flt-user", "SD-FLT-X4", user="gz-city"),
        "early": refused(store, "flt-early", "SD-FLT-X5", seen="2017-03-20T23:59:59+08:00"),
        "late": refused(store, "flt-late", "SD-FLT-X6", seen="2017-03-22T00:00:00+08:00"),
    }
    monkeypatch.setenv("TOWNS_AMQP_URL", broker.url)
    client = create_app(store.towns, config).test_client()

    # the listing and the count take the same filter
    listed = client.get("/api/v1/ops/dead-letters", query_string=FILTER, headers=OPERATOR)
    assert listed.status_code == 200, listed.get_data(as_text=True)
    assert [i["id"] for i in listed.get_json()["items"]] == matching
    one = client.get("/api/v1/ops/dead-letters", query_string={"ref": "SD-FLT-1", "limit": 5},
                     headers=OPERATOR).get_json()
    assert [i["message_id"] for i in one["items"]] == ["flt-1"] and one["next_cursor"] is None
    counted = client.get("/api/v1/ops/dead-letters/count", query_string=FILTER, headers=OPERATOR)
    assert counted.status_code == 200
    assert {k: counted.get_json()[k] for k in ("open", "redrivable", "truncated", "limit")} == {
        "open": 3, "redrivable": 3, "truncated": False, "limit": 500}
    consumers.start(broker.url, store.url)

    # When the operator re-drives what the filter matches, two at most
    answer = client.post("/api/v1/ops/dead-letters/requeue",
                         json={"all": True, **FILTER, "limit": 2, "reason": "the call is known now"},
                         headers=OPERATOR)

    # Then the first two went, the answer says one more matches, and the history names the filter
    assert answer.status_code == 200, answer.get_data(as_text=True)
    body = answer.get_json()
    assert (body["requeued"], body["ids"], body["limit"], body["remaining"]) == (2, matching[:2], 2, 1)
    assert body["filter"] == FILTER
    redrive = follow(client, body["redrive_id"])
    assert redrive["filter"] == FILTER and redrive["count"] == 2 and redrive["all"] is True
    assert redrive["outcomes"] == {"dead_lettered_again": 2}
    assert {i["outcome"]["code"] for i in redrive["letters"]} == {"unknown_call"}
    # and the letters beside the filter were not touched
    for name, letter_id in beside.items():
        letter = store.records.letter(UUID(letter_id))
        assert letter.open and letter.requeues == [], name
    # a filter by application ref takes the one left
    last = client.post("/api/v1/ops/dead-letters/requeue",
                       json={"all": True, "ref": "SD-FLT-2", "code": "unknown_call"}, headers=OPERATOR)
    assert last.status_code == 200 and last.get_json()["ids"] == [matching[2]]
    assert last.get_json()["remaining"] == 0
    assert follow(client, last.get_json()["redrive_id"])["filter"] == {"code": "unknown_call", "ref": "SD-FLT-2"}
    # nothing matches: nothing is re-driven, nothing recorded
    none = client.post("/api/v1/ops/dead-letters/requeue",
                       json={"all": True, "ref": "SD-NOBODY"}, headers=OPERATOR).get_json()
    assert (none["requeued"], none["redrive_id"], none["remaining"]) == (0, None, 0)


def test_bad_filter_values_are_refused_before_anything_is_re_driven(
        broker, store: Store, config, monkeypatch):
    kept = refused(store, "flt-kept", "SD-FLT-K")
    monkeypatch.setenv("TOWNS_AMQP_URL", broker.url)
    client = create_app(store.towns, config).test_client()
    for wrong, field in (({"since": "2017-03-21"}, "since"), ({"until": "later"}, "until"),
                         ({"type": ""}, "type"), ({"ref": "SD\u0007X"}, "ref"),
                         ({"user": "u" * 256}, "user"), ({"call": ["GD"]}, "call"),
                         ({"since": "2017-03-22T00:00:00+08:00",
                           "until": "2017-03-21T00:00:00+08:00"}, "until")):
        answer = client.post("/api/v1/ops/dead-letters/requeue", json={"all": True, **wrong},
                             headers=OPERATOR)
        assert answer.status_code == 422, wrong
        error = answer.get_json()["error"]
        assert error["code"] == "schema_invalid" and field in error["details"], error
        assert answer.headers["x-towns-error"] == "schema_invalid"
        if all(isinstance(v, str) for v in wrong.values()):
            listed = client.get("/api/v1/ops/dead-letters", query_string=wrong, headers=OPERATOR)
            assert listed.status_code == 422 and field in listed.get_json()["error"]["details"], wrong
    assert store.records.letter(UUID(kept)).open
    assert broker.depth(t.QUEUE) == 0
