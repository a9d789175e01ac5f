"""Hostile input at the edge, on both channels (``POST /api/v1/events`` and the RabbitMQ
consumer's ``Inbound``), and the read side's existence oracle (CONTRACT.md §2 and §3).

Every input is bounded and checked before anything else reads it: a value of the wrong JSON type
anywhere is an ordinary contract answer (never a 500, never ``internal_error``); identifiers
hold no control character and no white space at either end; no string anywhere holds U+0000;
strings and lists have upper bounds; a body over 256 KiB is refused without being read whole;
what the service sends back is bounded. A city or applicant cannot tell an application outside
its reach from one that does not exist.
"""

from __future__ import annotations

import copy
import dataclasses
import io
import json
from collections.abc import Iterator
from typing import Any

import pytest
from prometheus_client import REGISTRY

from adapters.amqp import topology as t
from adapters.amqp.inbound import Delivery, Inbound
from adapters.http import create_app
from adapters.store.inbound_records import InboundRecords
from adapters.http.errors import HTTP_STATUS
from adapters.inbound.ingest import MAX_MESSAGE_BYTES, ingest, prepare
from adapters.inbound.schemas import (
    _COMPILED_ENVELOPE,
    _COMPILED_PAYLOADS,
    EVENT_TYPES,
    ID_CHARS,
    NAME_CHARS,
    PANEL_MEMBERS,
    PROJECTS,
    TEXT_CHARS,
    parse_envelope,
)
from domain.applications import application_id
from domain.errors import ELLIPSIS, MAX_MESSAGE_CHARS, DomainError, SchemaInvalid
from domain.hashing import digest
from domain.lifecycle import EVENT_TYPES as KNOWN_TYPES
from domain.principals import Principal
from tests.e2e.test_serve import server  # noqa: F401 - the fixture: `towns serve` as a process
from tests.factories import CALL, ROLE_OF, encode, envelope, indicators

EVENTS = "/api/v1/events"
CONTRACT_CODES = set(HTTP_STATUS)
NOT_STRINGS = [[], {}, 1, 1.5, True, None, ["x"], {"a": "b"}]


# -- helpers -------------------------------------------------------------------------------------


def principal_of(type_: str, city: str = "shunde") -> str:
    role = ROLE_OF[type_]
    return "province" if role == "province" else f"{city}-{role}"


def post(client, who: str | None, body: dict | bytes, **headers):
    if who is not None:
        headers["Authorization"] = f"Bearer demo-{who}"
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    return client.post(EVENTS, data=raw, headers={"Content-Type": "application/json", **headers})


def refused(response, code: str, status: int) -> dict:
    """A contract error answer; its ``error`` object."""
    assert response.status_code == status, response.get_data(as_text=True)[:500]
    assert response.headers["x-towns-error"] == code
    body = response.get_json()
    assert set(body) == {"error"} and body["error"]["code"] == code
    assert set(body["error"]) == {"code", "message", "details"}
    return body["error"]


def refusal(towns, body: dict | bytes, who: str | None, config) -> DomainError:
    """What ``ingest`` refuses the message with (fails the test when it is applied)."""
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    with pytest.raises(DomainError) as caught:
        ingest(towns, raw, config.principals[who] if who else None)
    return caught.value


def leaves(value: Any, path: tuple = ()) -> Iterator[tuple]:
    """Every path into a JSON value (objects' fields and lists' items), the root's excepted."""
    if isinstance(value, dict):
        for key, item in value.items():
            yield path + (key,)
            yield from leaves(item, path + (key,))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield path + (i,)
            yield from leaves(item, path + (i,))


def replaced(value: Any, path: tuple, new: Any) -> Any:
    out = copy.deepcopy(value)
    node = out
    for step in path[:-1]:
        node = node[step]
    node[path[-1]] = new
    return out


def ingest_count(**labels: str) -> float:
    return REGISTRY.get_sample_value("towns_ingest_messages_total", labels) or 0.0


@pytest.fixture
def memory_client(memory_towns, config):
    """The HTTP app on the in-memory store: fast enough for many hostile bodies."""
    return create_app(memory_towns, config).test_client()


@pytest.fixture
def inbound(memory_towns, config) -> Inbound:
    return Inbound(memory_towns, config, InboundRecords(memory_towns), 60, service_user="towns")


def delivery(value: dict | bytes, user: str | None, tag: int = 0) -> Delivery:
    body = value if isinstance(value, bytes) else encode(value)
    message_id = value.get("message_id") if isinstance(value, dict) else None
    return Delivery(body, message_id if isinstance(message_id, str) else None, user,
                    "hostile", {}, "application/json", tag)


# -- 1. a value of the wrong JSON type, anywhere -------------------------------------------------


@pytest.mark.parametrize("kind", NOT_STRINGS, ids=repr)
def test_a_type_that_is_no_string_is_unauthenticated_without_a_token(memory_client, kind):
    # Given an envelope whose type is a list, an object, a number, a bool or null
    body = {**envelope("application.submitted"), "type": kind}
    before = ingest_count(type="other", outcome="refused", code="unauthenticated")
    # When it is posted without a token, then with one
    refused(post(memory_client, None, body), "unauthenticated", 401)
    error = refused(post(memory_client, "shunde-applicant", body), "schema_invalid", 422)
    # Then it is the contract's answer each time, and counted under the bounded label "other"
    assert "type" in error["details"]
    assert ingest_count(type="other", outcome="refused", code="unauthenticated") == before + 1


def test_the_type_label_of_the_ingest_counter_stays_bounded(memory_client):
    for kind in NOT_STRINGS + ["x" * 10_000, "application.unheard_of"]:
        post(memory_client, None, {**envelope("application.submitted"), "type": kind})
    types = {s.labels["type"] for m in REGISTRY.collect() if m.name == "towns_ingest_messages"
             for s in m.samples}
    assert types <= set(KNOWN_TYPES) | {"other", "unparsed"}


def test_a_type_that_is_no_string_over_amqp_is_one_dead_letter_and_leaves_its_batch_whole(inbound):
    # Given a batch: a submission, a message whose type is a list (from a known sender and from
    # an unknown one), the city's verification
    odd = {**envelope("application.submitted", "SD-2017-002"), "type": []}
    batch = [delivery(envelope("application.submitted"), "shunde-applicant", 1),
             delivery(odd, "shunde-applicant", 2),
             delivery({**odd, "message_id": "anon"}, None, 3),
             delivery(envelope("application.city_verified"), "shunde-city", 4)]
    saves: list[int] = []
    record = inbound.towns._record
    inbound.towns._record = lambda event: (saves.append(len(event.aggregates)), record(event))[1]
    # When it is applied
    letters = inbound.apply(batch)
    # Then the two odd ones are dead-lettered with contract codes, and the batch was saved whole
    assert [letter.headers[t.ERROR] for letter in letters] == ["schema_invalid", "unauthenticated"]
    assert saves[0] == 3  # one transaction: the application and both messages' inbox markers
    assert inbound.towns.application(CALL, "SD-2017-001").status == "city_verified"


def _every_field_of_every_type() -> Iterator[tuple[str, tuple]]:
    for type_ in EVENT_TYPES:
        for path in leaves(envelope(type_)):
            yield type_, path


@pytest.mark.parametrize("type_, path", list(_every_field_of_every_type()),
                         ids=lambda v: v if isinstance(v, str) else ".".join(map(str, v)))
def test_any_field_of_another_json_type_is_a_contract_answer(memory_towns, memory_client, config,
                                                             type_, path):
    # Given a valid envelope, and the application it needs where it needs one
    if type_ != "application.submitted":
        ingest(memory_towns, encode(envelope("application.submitted")),
               config.principals["shunde-applicant"])
    who = principal_of(type_)
    for value in [*NOT_STRINGS, [[]], [{}], "", "x" * 300, 10**30, -1]:
        body = replaced(envelope(type_), path, value)
        # When one of its fields, at any depth, is another JSON value
        try:
            ingest(memory_towns, json.dumps(body).encode(), config.principals[who])
        except DomainError as error:
            # Then it is applied or refused with a contract code; never anything else
            assert error.code in CONTRACT_CODES, (path, value, error)
        assert post(memory_client, None, body).status_code == 401, (path, value)


# -- 2. identifiers, NUL, bounds -----------------------------------------------------------------

IDENTIFIERS = [("message_id",), ("application_ref",), ("call_id",), ("actor", "id")]
NOT_IDENTIFIERS = [" GZ-1", "GZ-1 ", "\tGZ-1", "GZ-1\n", "GZ\x01-1", "GZ\x1f1", "GZ\x7f1",
                   "\u3000GZ-1", "GZ-1\u00a0", "x" * (ID_CHARS + 1)]


@pytest.mark.parametrize("path", IDENTIFIERS, ids=".".join)
@pytest.mark.parametrize("value", NOT_IDENTIFIERS, ids=repr)
def test_an_identifier_with_a_control_character_or_padding_is_schema_invalid(
        memory_towns, memory_client, config, path, value):
    body = replaced(envelope("application.submitted", "GZ-1", "guangzhou"), path, value)
    error = refusal(memory_towns, body, "guangzhou-applicant", config)
    assert error.code == "schema_invalid" and ".".join(path) in error.details, error.as_dict()
    answer = refused(post(memory_client, "guangzhou-applicant", body), "schema_invalid", 422)
    assert ".".join(path) in answer["details"]
    # never stored
    assert memory_towns.recorder.max_notification_id() in (None, 0)


@pytest.mark.parametrize("value", ["GZ-1", "粤-2017/1", "a b", "x" * ID_CHARS, "é"])
def test_an_identifier_within_the_rule_is_taken_and_through_the_compiled_path(memory_towns, config,
                                                                             value):
    body = envelope("application.submitted", value, "guangzhou", message_id=value)
    body["actor"]["id"] = value
    assert _COMPILED_ENVELOPE(body) is not None
    outcome = ingest(memory_towns, encode(body), config.principals["guangzhou-applicant"])
    assert outcome.application_ref == value


NUL_PLACES = {
    "a payload string": lambda b: b["payload"].update(town_name="Bei\u0000jiao"),
    "a payload key": lambda b: b["payload"].update({"\u0000": "x"}),
    "an unknown field's list": lambda b: b.update(extra=[["\u0000"]]),
    "the message id": lambda b: b.update(message_id="m\u0000"),
    "the actor's organisation": lambda b: b["actor"].update(organisation="\u0000"),
    "a nested list": lambda b: b["payload"]["indicators"]["application_projects"][0].update(
        name="\u0000"),
}


@pytest.mark.parametrize("place", list(NUL_PLACES))
def test_a_nul_anywhere_is_malformed(memory_towns, memory_client, config, place):
    body = envelope("application.submitted")
    NUL_PLACES[place](body)
    assert refusal(memory_towns, body, "shunde-applicant", config).code == "malformed"
    refused(post(memory_client, "shunde-applicant", body), "malformed", 400)
    assert memory_towns.recorder.max_notification_id() in (None, 0)


@pytest.mark.parametrize("body", [
    {"type": "no.such.type", "town": "\u0000"},  # an unknown type, fields missing
    {"message_id": "\u0000"},
    ["\u0000"],  # not even an object
    {"\u0000": {"type": []}},
], ids=repr)
def test_a_nul_is_malformed_whatever_else_is_wrong(memory_towns, config, body):
    assert refusal(memory_towns, body, "shunde-applicant", config).code == "malformed"


def test_an_escaped_backslash_before_u0000_is_no_nul(memory_towns, config):
    # The JSON text holds \\u0000: a backslash, then the five characters u0000
    body = envelope("application.submitted", town_name="C:\\u0000 town")
    raw = json.dumps(body).encode()
    assert b"\\\\u0000" in raw
    outcome = ingest(memory_towns, raw, config.principals["shunde-applicant"])
    assert outcome.status == "submitted"


def test_a_raw_nul_byte_is_malformed(memory_towns, config):
    raw = encode(envelope("application.submitted")).replace(b"Beijiao", b"Bei\x00jiao")
    assert refusal(memory_towns, raw, "shunde-applicant", config).code == "malformed"


def _too_long(type_: str, field: str, value: Any) -> tuple[str, dict, str]:
    return type_, envelope(type_, **{field: value}), f"payload.{field}"


TOO_LONG = [
    _too_long("application.submitted", "town_name", "x" * (NAME_CHARS + 1)),
    _too_long("application.submitted", "applicant",
              {"name": "x" * (NAME_CHARS + 1), "kind": "other"}),
    _too_long("application.submitted", "indicators", indicators(application_projects=[
        {"name": f"p{i}", "field": "medical"} for i in range(PROJECTS + 1)])),
    _too_long("application.withdrawn", "reason", "x" * (TEXT_CHARS + 1)),
    _too_long("application.returned", "reason", "x" * (TEXT_CHARS + 1)),
    _too_long("application.city_verified", "notes", "x" * (TEXT_CHARS + 1)),
    _too_long("application.recommended", "notes", "x" * (TEXT_CHARS + 1)),
    _too_long("application.evaluated", "findings", "x" * (TEXT_CHARS + 1)),
    _too_long("application.evaluated", "panel", [f"m{i}" for i in range(PANEL_MEMBERS + 1)]),
    _too_long("application.evaluated", "panel", ["x" * (NAME_CHARS + 1)]),
    _too_long("application.evaluated", "waivers",
              [{"criterion": "1(5)", "reason": "r"}] * 15),
    _too_long("application.evaluated", "waivers", [{"criterion": "1(5)", "reason": "x" * (TEXT_CHARS + 1)}]),
    _too_long("application.approved", "decision_ref", "x" * (NAME_CHARS + 1)),
]


@pytest.mark.parametrize("type_, body, field", TOO_LONG, ids=lambda v: v if isinstance(v, str) else "")
def test_strings_and_lists_have_upper_bounds(type_, body, field):
    with pytest.raises(SchemaInvalid) as caught:
        parse_envelope(body)
    assert any(path.startswith(field) for path in caught.value.details), caught.value.details


def test_the_actor_organisation_has_an_upper_bound():
    body = envelope("application.submitted")
    body["actor"]["organisation"] = "x" * (NAME_CHARS + 1)
    with pytest.raises(SchemaInvalid) as caught:
        parse_envelope(body)
    assert "actor.organisation" in caught.value.details


def test_strings_and_lists_at_their_bounds_are_taken_by_the_compiled_path():
    body = envelope("application.evaluated", findings="x" * TEXT_CHARS,
                    panel=["x" * NAME_CHARS] * PANEL_MEMBERS,
                    waivers=[{"criterion": "1(5)", "reason": "x" * TEXT_CHARS}] * 14)
    body["actor"]["organisation"] = "x" * NAME_CHARS
    loaded = _COMPILED_ENVELOPE(copy.deepcopy(body))
    assert loaded is not None
    assert _COMPILED_PAYLOADS["application.evaluated"](loaded["payload"]) is not None
    submitted = envelope("application.submitted", town_name="x" * NAME_CHARS,
                         indicators=indicators(application_projects=[
                             {"name": "x" * NAME_CHARS, "field": "medical"}] * PROJECTS))
    assert _COMPILED_PAYLOADS["application.submitted"](submitted["payload"]) is not None


# -- 3. the body's size --------------------------------------------------------------------------


class EndlessBody(io.RawIOBase):
    """A request body that never ends (or ends after ``data``); counts what is read of it."""

    def __init__(self, data: bytes | None = None) -> None:
        self.data, self.read_bytes = data, 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        if self.data is not None:
            chunk = self.data[self.read_bytes:self.read_bytes + len(buffer)]
        else:
            chunk = b" " * len(buffer)
        buffer[:len(chunk)] = chunk
        self.read_bytes += len(chunk)
        return len(chunk)


def post_chunked(client, who: str | None, stream: EndlessBody):
    headers = {"Transfer-Encoding": "chunked", "Content-Type": "application/json"}
    if who:
        headers["Authorization"] = f"Bearer demo-{who}"
    # wsgi.input_terminated: the server (waitress, werkzeug's) de-chunks and ends the stream
    return client.post(EVENTS, headers=headers, environ_overrides={
        "wsgi.input": io.BufferedReader(stream), "wsgi.input_terminated": True})


@pytest.mark.parametrize("who, code, status", [("province", "malformed", 400),
                                               (None, "unauthenticated", 401)])
def test_a_chunked_body_over_the_limit_is_refused_without_being_read_whole(memory_client, who,
                                                                           code, status):
    stream = EndlessBody()
    error = refused(post_chunked(memory_client, who, stream), code, status)
    assert stream.read_bytes <= MAX_MESSAGE_BYTES + 64 * 1024
    if code == "malformed":
        assert error["details"]["limit"] == MAX_MESSAGE_BYTES


def test_a_chunked_body_over_the_limit_is_not_cut_to_a_valid_message(memory_client):
    # A valid envelope followed by white space, 300 KiB in all: over the limit, however valid
    padded = encode(envelope("application.submitted")) + b" " * (300 * 1024)
    refused(post_chunked(memory_client, "shunde-applicant", EndlessBody(padded)), "malformed", 400)


def test_a_chunked_body_within_the_limit_is_taken(memory_client):
    body = encode(envelope("application.submitted"))
    response = post_chunked(memory_client, "shunde-applicant", EndlessBody(body))
    assert response.status_code == 200, response.get_data(as_text=True)


@pytest.mark.parametrize("who, code, status", [("province", "malformed", 400),
                                               (None, "unauthenticated", 401)])
@pytest.mark.parametrize("declared, read_at_most", [(10**9, 0), (MAX_MESSAGE_BYTES + 2, 0),
                                                    (MAX_MESSAGE_BYTES + 1, MAX_MESSAGE_BYTES + 1)])
def test_a_declared_length_over_the_limit_is_refused_before_reading_on(memory_client, who, code,
                                                                       status, declared, read_at_most):
    stream = EndlessBody()
    headers = {"Content-Type": "application/json"}
    if who:
        headers["Authorization"] = f"Bearer demo-{who}"
    response = memory_client.post(EVENTS, headers=headers, environ_overrides={
        "wsgi.input": io.BufferedReader(stream), "CONTENT_LENGTH": str(declared)})
    error = refused(response, code, status)
    # nothing read when the declared length is over werkzeug's limit; else up to it (and the
    # BufferedReader's read-ahead of 8 KiB blocks)
    assert stream.read_bytes <= read_at_most + (8 * 1024 if read_at_most else 0)
    if code == "malformed":
        assert error["details"] == {"size": declared, "limit": MAX_MESSAGE_BYTES}


def test_a_body_of_exactly_the_limit_is_read_and_judged(memory_client):
    body = encode(envelope("application.submitted"))
    body += b" " * (MAX_MESSAGE_BYTES - len(body))
    assert post(memory_client, "shunde-applicant", body).status_code == 200


def test_werkzeugs_413_anywhere_is_the_contracts_malformed():
    from flask import Flask
    from werkzeug.exceptions import RequestEntityTooLarge

    from adapters.http.errors import http_error_response

    with Flask("t").test_request_context(method="POST", headers={"Content-Length": "999999999"}):
        response = http_error_response(RequestEntityTooLarge())
    assert response.status_code == 400 and response.headers["x-towns-error"] == "malformed"
    assert response.get_json()["error"]["details"]["limit"] == MAX_MESSAGE_BYTES


def test_towns_serve_answers_over_the_limit_as_malformed_and_takes_at_most_1_mib(server):
    """Waitress reads a request body before the app sees it: up to its own ceiling the app
    answers the contract's malformed, chunked or not; above it waitress refuses at once."""
    import http.client
    from urllib.parse import urlsplit

    from adapters.http.server import SERVER_MAX_BODY_BYTES

    _, base = server
    where = urlsplit(base)
    auth = {"Authorization": "Bearer demo-province", "Content-Type": "application/json"}

    def answer(body=None, headers=None, **options):
        conn = http.client.HTTPConnection(where.hostname, where.port, timeout=30)
        try:
            conn.request("POST", EVENTS, body=body, headers={**auth, **(headers or {})}, **options)
            response = conn.getresponse()
            return response.status, response.getheader("x-towns-error"), response.read()
        finally:
            conn.close()

    over = b" " * (300 * 1024)
    status, code, body = answer(over)
    assert (status, code) == (400, "malformed"), body
    assert json.loads(body)["error"]["details"] == {"size": len(over), "limit": MAX_MESSAGE_BYTES}
    status, code, body = answer(iter([over[:100_000], over[100_000:]]), encode_chunked=True)
    assert (status, code) == (400, "malformed"), body
    assert SERVER_MAX_BODY_BYTES <= 1024 * 1024
    # a declared length over waitress's ceiling: refused before a byte of the body is sent
    conn = http.client.HTTPConnection(where.hostname, where.port, timeout=30)
    try:
        conn.putrequest("POST", EVENTS)
        conn.putheader("Content-Length", str(SERVER_MAX_BODY_BYTES + 1))
        conn.endheaders()
        assert conn.getresponse().status == 413
    finally:
        conn.close()


# -- 4. what the service sends back is bounded ---------------------------------------------------


def test_a_huge_unknown_type_is_not_echoed_whole_over_http(memory_client):
    body = {**envelope("application.submitted"), "type": "t" * 200_000}
    error = refused(post(memory_client, "shunde-applicant", body), "unknown_type", 422)
    assert len(error["message"]) == MAX_MESSAGE_CHARS and error["message"].endswith(ELLIPSIS)
    assert len(json.dumps(error)) < 4 * MAX_MESSAGE_CHARS


def test_a_huge_unknown_type_is_not_echoed_whole_over_amqp(inbound):
    body = {**envelope("application.submitted"), "type": "t" * 200_000}
    [letter] = inbound.apply([delivery(body, "shunde-applicant")])
    assert letter.headers[t.ERROR] == "unknown_type"
    assert len(letter.headers[t.DETAIL]) <= MAX_MESSAGE_CHARS
    assert letter.headers[t.DETAIL].endswith(ELLIPSIS)
    assert letter.body == encode(body)  # the letter itself is the message, unchanged


def test_a_domain_errors_message_and_details_are_bounded_where_it_is_built():
    error = DomainError("m" * 5000, {"k": "v" * 5000, "many": list(range(1000)),
                                     **{f"f{i}": i for i in range(500)}})
    assert len(error.message) == MAX_MESSAGE_CHARS and error.message.endswith(ELLIPSIS)
    assert str(error) == error.message
    assert len(json.dumps(error.as_dict())) < 10_000
    small = DomainError("short", {"a": 1, "b": ["x"], "c": None})
    assert small.as_dict() == {"code": "domain_error", "message": "short",
                               "details": {"a": 1, "b": ["x"], "c": None}}


# -- 5. the existence oracle ---------------------------------------------------------------------


@pytest.fixture
def readers(towns, config, store_url):
    """Applications of Guangzhou and of two Shunde applicants, and a client to read them."""
    second = Principal(name="shunde-applicant-2", role="applicant", organisation="second desk",
                       city="shunde", token="demo-shunde-applicant-2")
    config = dataclasses.replace(config, principals={**config.principals, second.name: second})
    client = create_app(towns, config).test_client()
    for who, ref, city in [("guangzhou-applicant", "GZ-2017-001", "guangzhou"),
                           ("shunde-applicant", "SD-2017-001", "shunde"),
                           ("shunde-applicant-2", "SD-2017-002", "shunde")]:
        response = post(client, who, envelope("application.submitted", ref, city,
                                              occurred_at="2017-03-10T10:00:00+08:00"))
        assert response.status_code == 200, response.get_data(as_text=True)
    return client


POINTS = [{}, {"as_of": "2017-03-09T10:00:00+08:00"}, {"as_of": "2017-03-11T10:00:00+08:00"},
          {"known_at": "2000-01-01T00:00:00+00:00"}, {"known_at": "2999-01-01T00:00:00+00:00"},
          {"version": 1}, {"version": 7}]


def read(client, who: str, ref: str, tail: str = "", **query):
    path = f"/api/v1/applications/{CALL}/{ref}{tail}"
    return client.get(path, headers={"Authorization": f"Bearer demo-{who}"}, query_string=query)


@pytest.mark.parametrize("who, ref", [("shunde-city", "GZ-2017-001"),
                                      ("shunde-applicant", "GZ-2017-001"),
                                      ("shunde-applicant", "SD-2017-002"),
                                      ("shunde-applicant-2", "SD-2017-001")])
@pytest.mark.parametrize("tail", ["", "/history"])
def test_an_application_outside_the_readers_reach_reads_as_one_that_does_not_exist(
        readers, who, ref, tail):
    for query in POINTS:
        hidden = read(readers, who, ref, tail, **query)
        missing = read(readers, who, "NO-SUCH-REF", tail, **query)
        # the same status, code and header, and the same JSON once the ref itself is set aside
        refused(missing, "unknown_application", 404)
        refused(hidden, "unknown_application", 404)
        assert hidden.headers.get("x-towns-error") == missing.headers.get("x-towns-error")
        assert hidden.get_data(as_text=True).replace(ref, "REF") == \
            missing.get_data(as_text=True).replace("NO-SUCH-REF", "REF"), query


def test_the_owner_and_the_province_still_read_it_and_operators_keep_403(readers):
    assert read(readers, "guangzhou-city", "GZ-2017-001").status_code == 200
    assert read(readers, "shunde-applicant-2", "SD-2017-002", "/history").status_code == 200
    assert read(readers, "province", "SD-2017-001", version=1).status_code == 200
    refused(read(readers, "operator", "GZ-2017-001"), "forbidden", 403)
    refused(read(readers, "operator", "NO-SUCH-REF", "/history"), "forbidden", 403)


def test_a_cursor_made_by_hand_with_a_nul_is_schema_invalid(http_client):
    """On PostgreSQL, whose text holds no NUL, the query itself would fail (500)."""
    from adapters.http.cursor import encode_cursor

    response = http_client.get("/api/v1/applications", headers={"Authorization": "Bearer demo-province"},
                               query_string={"cursor": encode_cursor((CALL, "SD\x00"))})
    assert "cursor" in refused(response, "schema_invalid", 422)["details"]


# -- no regression ---------------------------------------------------------------------------------


@pytest.mark.parametrize("type_", EVENT_TYPES)
def test_a_valid_envelope_goes_through_unchanged(type_, config):
    body = envelope(type_)
    raw = encode(body)
    # the compiled path answers for it, as marshmallow would
    loaded = _COMPILED_ENVELOPE(copy.deepcopy(body))
    assert loaded is not None and _COMPILED_PAYLOADS[type_](loaded["payload"]) is not None
    command = prepare(raw, config.principals[principal_of(type_)])
    assert (command.message_id, command.type, command.call_id, command.application_ref) == (
        body["message_id"], type_, CALL, body["application_ref"])
    assert command.actor.id == body["actor"]["id"]
    assert command.body == body and command.digest == digest(body)
    assert command.payload == body["payload"]


def test_a_valid_life_cycle_goes_through_both_channels(memory_client, inbound):
    steps = ["application.submitted", "application.city_verified", "application.recommended",
             "materials.received", "application.evaluated", "application.approved"]
    for version, type_ in enumerate(steps, start=1):
        response = post(memory_client, principal_of(type_), envelope(type_, "SD-2017-001"))
        assert response.status_code == 200 and response.get_json()["version"] == version
    batch = [delivery(envelope(type_, "SD-2017-009"), principal_of(type_), i)
             for i, type_ in enumerate(steps)]
    assert inbound.apply(batch) == []
    assert inbound.towns.application(CALL, "SD-2017-009").status == "approved"
