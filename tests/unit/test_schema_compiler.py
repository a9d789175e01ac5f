"""The compiled schemas (adapters.inbound.schema_compiler): for any input they either defer to
marshmallow or return exactly what marshmallow's load returns — same keys in the same order,
same values, same types — and they do answer for the valid messages of every type."""

from __future__ import annotations

import copy
import json
from datetime import datetime
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from marshmallow import EXCLUDE, RAISE, Schema, ValidationError, fields, validate

from adapters.inbound.schema_compiler import compile_schema
from adapters.inbound.schemas import (
    _COMPILED_ENVELOPE,
    _COMPILED_PAYLOADS,
    _ENVELOPE,
    EVENT_TYPES,
    PAYLOAD_SCHEMAS,
    parse_envelope,
)
from domain import indicators
from tests.factories import envelope


def identical(a: Any, b: Any) -> bool:
    """Equal and of the same types all the way down, dict keys in the same order
    (``1 == True`` and ``{"a", "b"} == {"b", "a"}`` are not enough for stored bytes)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return list(a) == list(b) and all(identical(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(identical(x, y) for x, y in zip(a, b))
    if isinstance(a, datetime):
        return a == b and a.utcoffset() == b.utcoffset()
    if isinstance(a, float) and a != a:
        return b != b
    return a == b


def marshmallow_load(message: Any) -> dict | None:
    """The envelope and its payload loaded by marshmallow alone; None when it refuses."""
    try:
        loaded = _ENVELOPE.load(message)
        schema = PAYLOAD_SCHEMAS.get(loaded["type"])
        if schema is None:
            return None
        loaded["payload"] = schema.load(loaded["payload"])
        return loaded
    except ValidationError:
        return None


def compiled_load(message: Any) -> dict | None:
    loaded = _COMPILED_ENVELOPE(message)
    if loaded is None or loaded["type"] not in _COMPILED_PAYLOADS:
        return None
    payload = _COMPILED_PAYLOADS[loaded["type"]](loaded["payload"])
    if payload is None:
        return None
    loaded["payload"] = payload
    return loaded


VALID = [
    envelope(event_type, track=track, city=city)
    for event_type in EVENT_TYPES
    for track in indicators.TRACKS
    for city in ("shunde", "meizhou")
]


@pytest.mark.parametrize("message", VALID, ids=lambda m: f"{m['type']}")
def test_the_compiled_path_answers_for_every_valid_message_as_marshmallow_does(message):
    expected = marshmallow_load(copy.deepcopy(message))
    assert expected is not None
    assert identical(compiled_load(copy.deepcopy(message)), expected)


def test_optional_fields_take_the_same_defaults_in_the_same_place():
    message = envelope("application.evaluated")
    del message["payload"]["waivers"], message["payload"]["findings"]
    del message["actor"]["organisation"]
    got = compiled_load(copy.deepcopy(message))
    assert got is not None and got["payload"]["waivers"] == [] and got["payload"]["findings"] == ""
    assert identical(got, marshmallow_load(message))


# -- any input: defer, or the same answer ------------------------------------------------------

JSON_VALUES = st.one_of(
    st.none(), st.booleans(), st.integers(-3, 300), st.integers(), st.floats(allow_nan=True),
    st.sampled_from(["", "x", "2017-03-10T10:00:00", "2017-03-10T10:00:00+08:00", "shunde",
                     "industrial", "application", "1(3)", "established", "issued", "city",
                     "province", "applicant", "guangzhou", "other", "2017-02-30T10:00:00+08:00"]),
    st.text(max_size=3),
    st.just([]), st.just({}), st.just([{"name": "a", "field": "medical"}]),
    st.just({"criterion": "1(1)", "reason": "r"}),
).map(copy.deepcopy)


def paths(value: Any, prefix: tuple = ()) -> list[tuple]:
    """Every path to a value inside a message, the message itself included."""
    found = [prefix]
    if isinstance(value, dict):
        for key, child in value.items():
            found += paths(child, prefix + (key,))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            found += paths(child, prefix + (index,))
    return found


@st.composite
def mutated_messages(draw) -> Any:
    message = copy.deepcopy(draw(st.sampled_from(VALID)))
    for _ in range(draw(st.integers(1, 3))):
        path = draw(st.sampled_from(paths(message)))
        if not path:
            continue
        parent = message
        for key in path[:-1]:
            parent = parent[key]
        key = path[-1]
        action = draw(st.sampled_from(["replace", "delete", "add_unknown"]))
        if action == "replace":
            parent[key] = draw(JSON_VALUES)
        elif action == "delete":
            del parent[key]
        elif isinstance(parent[key], dict):
            parent[key][draw(st.sampled_from(["extra", "zz", "type", "track"]))] = draw(JSON_VALUES)
    return message


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated_messages())
def test_for_any_message_the_compiled_path_defers_or_agrees(message):
    got = compiled_load(copy.deepcopy(message))
    if got is not None:
        assert identical(got, marshmallow_load(copy.deepcopy(message)))


@settings(max_examples=200, deadline=None)
@given(mutated_messages())
def test_parse_envelope_gives_the_same_answer_as_marshmallow(message):
    expected = marshmallow_load(copy.deepcopy(message))
    try:
        got = parse_envelope(copy.deepcopy(message))
    except Exception:  # refusals are marshmallow's own, tested in test_schemas
        assert expected is None
    else:
        assert identical(got, expected)


def test_a_json_round_trip_keeps_the_answer():
    message = json.loads(json.dumps(VALID[0]))
    assert identical(compiled_load(message), marshmallow_load(json.loads(json.dumps(VALID[0]))))


# -- what it does not know, it never answers ---------------------------------------------------


class Keeps(Schema):
    class Meta:
        unknown = RAISE

    name = fields.String()


class Patterned(Schema):
    class Meta:
        unknown = EXCLUDE

    name = fields.String(validate=validate.Regexp(r"^[a-z]+$"))


class Floats(Schema):
    class Meta:
        unknown = EXCLUDE

    value = fields.Float()


@pytest.mark.parametrize("schema", [Keeps(), Patterned(), Floats()], ids=type)
def test_a_schema_with_anything_unknown_to_the_compiler_always_defers(schema):
    load = compile_schema(schema)
    assert load({"name": "abc", "value": 1.0}) is None


def test_a_known_schema_checks_its_validators():
    class Bounded(Schema):
        class Meta:
            unknown = EXCLUDE

        count = fields.Integer(strict=True, validate=validate.Range(min=0, max=10, max_inclusive=False))
        kind = fields.String(validate=validate.OneOf(["a", "b"]))

    load = compile_schema(Bounded())
    assert load({"count": 9, "kind": "a", "other": 1}) == {"count": 9, "kind": "a"}
    assert load({"count": 10, "kind": "a"}) is None
    assert load({"count": True, "kind": "a"}) is None
    assert load({"count": 1, "kind": "c"}) is None
    assert load({"count": None}) is None
