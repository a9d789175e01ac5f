"""POST /api/v1/events through Flask's test client, on SQLite and on the real PostgreSQL:
every contract error code with its status, header and JSON shape; the life cycle; duplicates."""

from __future__ import annotations

import json

import pytest

from tests.factories import CALL, at, encode, envelope

EVENTS = "/api/v1/events"


def post(client, who: str | None, body: dict | bytes, token: str | None = None):
    """POSTs as the principal ``who`` (its demo token), or with ``token`` verbatim."""
    headers = {"Content-Type": "application/json"}
    if who is not None:
        headers["Authorization"] = f"Bearer demo-{who}"
    if token is not None:
        headers["Authorization"] = token
    raw = body if isinstance(body, bytes) else encode(body)
    return client.post(EVENTS, data=raw, headers=headers)


def refused(response, code: str, status: int) -> dict:
    """Checks a contract error answer; returns its ``details``."""
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.headers["x-towns-error"] == code
    assert response.mimetype == "application/json"
    body = response.get_json()
    assert set(body) == {"error"}
    assert set(body["error"]) == {"code", "message", "details"}
    assert body["error"]["code"] == code
    assert isinstance(body["error"]["message"], str) and body["error"]["message"]
    assert isinstance(body["error"]["details"], dict)
    return body["error"]["details"]


def applied(response, status: str, version: int, duplicate: bool = False) -> None:
    assert response.status_code == 200, response.get_data(as_text=True)
    assert "x-towns-error" not in response.headers
    assert response.get_json() == {
        "application_ref": "SD-2017-001",
        "call_id": CALL,
        "status": status,
        "version": version,
        "duplicate": duplicate,
    }


def submit(client, ref: str = "SD-2017-001", city: str = "shunde", **kw):
    return post(client, f"{city}-applicant", envelope("application.submitted", ref, city, **kw))


# -- the life cycle ------------------------------------------------------------------------------


def test_a_full_life_cycle_answers_the_status_and_version_after_each_event(http_client):
    steps = [
        ("shunde-applicant", "application.submitted", "submitted"),
        ("shunde-city", "application.returned", "returned"),
        ("shunde-applicant", "application.resubmitted", "submitted"),
        ("shunde-city", "application.city_verified", "city_verified"),
        ("shunde-city", "application.recommended", "recommended"),
        ("province", "materials.received", "recommended"),
        ("province", "application.evaluated", "evaluated"),
        ("province", "application.approved", "approved"),
    ]
    for version, (who, type_, status) in enumerate(steps, start=1):
        applied(post(http_client, who, envelope(type_)), status, version)


def test_a_duplicate_answers_200_with_the_application_as_it_stands_now(http_client):
    body = envelope("application.submitted", message_id="dup-1")
    applied(post(http_client, "shunde-applicant", body), "submitted", 1)
    applied(post(http_client, "shunde-city", envelope("application.city_verified")), "city_verified", 2)
    # the same envelope, keys in another order and other white space
    again = json.dumps(dict(reversed(list(body.items()))), indent=2).encode()
    applied(post(http_client, "shunde-applicant", again), "city_verified", 2, duplicate=True)


def test_a_withdrawal_by_the_owner(http_client):
    submit(http_client)
    applied(post(http_client, "shunde-applicant", envelope("application.withdrawn")), "withdrawn", 2)


# -- 401 unauthenticated -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "authorization, invalid",
    [(None, False), ("Bearer not-a-token", True), ("Basic ZGVtbzpkZW1v", True), ("Bearer ", True)],
)
def test_no_or_an_unknown_token_is_unauthenticated(http_client, authorization, invalid):
    response = post(http_client, None, envelope("application.submitted"), token=authorization)
    refused(response, "unauthenticated", 401)
    challenge = response.headers["WWW-Authenticate"]
    assert challenge.startswith("Bearer")
    assert ("invalid_token" in challenge) == invalid


def test_unauthenticated_comes_before_malformed(http_client):
    refused(post(http_client, None, b"\xff not json"), "unauthenticated", 401)
    refused(post(http_client, None, b"{" * (2 * 1024 * 1024)), "unauthenticated", 401)


# -- 403 forbidden -------------------------------------------------------------------------------


def test_a_city_acting_as_another_city_is_forbidden(http_client):
    submit(http_client, "GZ-2017-001", "guangzhou")
    body = envelope("application.city_verified", "GZ-2017-001", "guangzhou")
    details = refused(post(http_client, "shunde-city", body), "forbidden", 403)
    assert details["principal"] == "shunde-city"


def test_foshan_verifying_a_shunde_application_is_forbidden(http_client):
    submit(http_client)
    body = envelope("application.city_verified", "SD-2017-001", "foshan")
    details = refused(post(http_client, "foshan-city", body), "forbidden", 403)
    assert details == {"application_city": "shunde", "principal_city": "foshan"}


def test_another_applicant_may_not_withdraw(http_client):
    submit(http_client, "GZ-2017-001", "guangzhou")
    body = envelope("application.withdrawn", "GZ-2017-001", "guangzhou")
    refused(post(http_client, "guangzhou-applicant-2", body), "forbidden", 403)


# -- 400 malformed -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "raw",
    [
        pytest.param(b"{not json", id="not-json"),
        pytest.param(b"", id="empty"),
        pytest.param('{"town": "北滘"}'.encode("gb18030"), id="not-utf8"),
        pytest.param(b"\xff\xfe{}", id="bom-bytes"),
        pytest.param(b"[]", id="array"),
        pytest.param(b'"a string"', id="string"),
    ],
)
def test_bytes_that_are_not_a_utf8_json_object_are_malformed(http_client, raw):
    refused(post(http_client, "province", raw), "malformed", 400)


def with_value(raw_value: str, where: str) -> bytes:
    """A valid submission whose unknown field ``x`` or ``town_name`` is ``raw_value`` as written."""
    body = envelope("application.submitted")
    body["payload"]["town_name"] = "TOWN"
    text = encode(body).decode("utf-8")
    if where == "unknown field":
        return (text[:-1] + f', "x": {raw_value}}}').encode("utf-8")
    return text.replace('"TOWN"', raw_value).encode("utf-8")


@pytest.mark.parametrize("where", ["unknown field", "known field"])
@pytest.mark.parametrize(
    "raw_value",
    [
        pytest.param("NaN", id="nan"),
        pytest.param("Infinity", id="infinity"),
        pytest.param("-Infinity", id="minus-infinity"),
        pytest.param("1e999", id="float-overflow"),
        pytest.param("9" * 5000, id="5000-digit-integer"),
        pytest.param('"\\ud800"', id="lone-high-surrogate"),
        pytest.param('"x\\udfff"', id="lone-low-surrogate"),
    ],
)
def test_values_json_does_not_have_are_malformed_even_where_ignored(http_client, raw_value, where):
    """Python's reader accepts them, JSON and UTF-8 do not: refused, nothing recorded."""
    refused(post(http_client, "shunde-applicant", with_value(raw_value, where)), "malformed", 400)
    refused(post(http_client, "shunde-city", envelope("application.city_verified")),
            "unknown_application", 404)


def test_an_escaped_surrogate_pair_is_one_character(http_client):
    applied(post(http_client, "shunde-applicant", with_value('"\\ud83c\\udfed Town"', "known field")),
            "submitted", 1)


def test_a_300_kib_body_is_malformed_with_its_size(http_client):
    body = encode(envelope("application.submitted", town_name="x" * (300 * 1024)))
    details = refused(post(http_client, "shunde-applicant", body), "malformed", 400)
    assert details == {"size": len(body), "limit": 256 * 1024}


def test_a_body_over_flasks_limit_is_still_contract_json(http_client):
    body = b" " * (2 * 1024 * 1024)
    details = refused(post(http_client, "province", body), "malformed", 400)
    assert details == {"size": len(body), "limit": 256 * 1024}


# -- 422 -----------------------------------------------------------------------------------------


def test_schema_errors_map_field_paths_to_messages(http_client):
    body = envelope("application.submitted")
    del body["message_id"]
    body["actor"]["city"] = "atlantis"
    details = refused(post(http_client, "shunde-applicant", body), "schema_invalid", 422)
    assert {"message_id", "actor.city"} <= set(details)
    assert all(isinstance(message, str) for message in details.values())


def test_payload_errors_name_the_payload_path(http_client):
    body = envelope("application.evaluated", score=101, waivers=[{"criterion": "9(9)", "reason": "x"}])
    details = refused(post(http_client, "province", body), "schema_invalid", 422)
    assert {"payload.score", "payload.waivers.0.criterion"} <= set(details)


def test_an_unknown_type_and_an_unknown_call(http_client):
    body = {**envelope("application.submitted"), "type": "application.teleported"}
    assert refused(post(http_client, "shunde-applicant", body), "unknown_type", 422) == {
        "type": "application.teleported"
    }
    body = {**envelope("application.submitted"), "call_id": "GD-2099"}
    assert refused(post(http_client, "shunde-applicant", body), "unknown_call", 422) == {
        "call_id": "GD-2099"
    }


# -- 404 and 409 ---------------------------------------------------------------------------------


def test_an_unknown_application(http_client):
    body = envelope("application.city_verified", "SD-2017-404")
    details = refused(post(http_client, "shunde-city", body), "unknown_application", 404)
    assert details == {"application_ref": "SD-2017-404", "call_id": CALL}


def test_an_invalid_transition_names_the_state_and_the_event(http_client):
    submit(http_client)
    body = envelope("application.approved")
    details = refused(post(http_client, "province", body), "invalid_transition", 409)
    assert details["status"] == "submitted" and details["event"] == "application.approved"
    refused(submit(http_client), "invalid_transition", 409)


def test_evaluation_without_complete_materials_fails_its_precondition(http_client):
    submit(http_client)
    post(http_client, "shunde-city", envelope("application.city_verified"))
    post(http_client, "shunde-city", envelope("application.recommended"))
    body = envelope("application.evaluated")
    details = refused(post(http_client, "province", body), "precondition_failed", 409)
    assert details == {"paper_copies": 0, "electronic_copies": 0}


def test_the_same_message_id_with_another_body_is_a_conflict(http_client):
    body = envelope("application.submitted", message_id="m-1")
    applied(post(http_client, "shunde-applicant", body), "submitted", 1)
    changed = {**body, "payload": {**body["payload"], "town_name": "Lecong Town"}}
    details = refused(post(http_client, "shunde-applicant", changed), "idempotency_conflict", 409)
    assert details == {"message_id": "m-1"}


def test_a_submission_after_the_cutoff(http_client):
    response = submit(http_client, occurred_at=at(2, month=4))
    assert refused(response, "deadline_passed", 409)["cutoff"] == "2017-03-30T23:59:59+08:00"


# -- the documents -------------------------------------------------------------------------------


def test_the_openapi_document_needs_no_token_and_lists_the_ingest(http_client):
    response = http_client.get("/api/v1/openapi.json")
    assert response.status_code == 200
    spec = response.get_json()
    assert spec["openapi"].startswith("3.") and spec["info"]["title"] == "towns"
    post_events = spec["paths"]["/api/v1/events"]["post"]
    assert post_events["requestBody"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/Envelope"
    }
    assert {"200", "400", "401", "403", "404", "409", "422"} <= set(post_events["responses"])
    assert post_events["security"] == [{"bearerAuth": []}]
    schemas = spec["components"]["schemas"]
    assert set(schemas["Outcome"]["properties"]) == {
        "application_ref", "call_id", "status", "version", "duplicate"
    }
    assert schemas["Error"]["properties"]["error"] == {"$ref": "#/components/schemas/ErrorDetail"}
    assert "/healthz" in spec["paths"]


def test_healthz_needs_no_token(http_client):
    response = http_client.get("/healthz")
    assert (response.status_code, response.get_json()) == (200, {"ok": True})
