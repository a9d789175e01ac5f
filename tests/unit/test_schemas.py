"""The edge's shapes (adapters.inbound.schemas): envelopes and payloads, and the order of refusals."""

from __future__ import annotations

import copy
import json
from datetime import datetime, timedelta, timezone
from typing import Any, Callable

import pytest

from adapters.inbound.schemas import ENVELOPE_ROLES, EVENT_TYPES, parse_envelope
from domain import indicators
from domain.errors import Malformed, SchemaInvalid, UnknownType

# ---------------------------------------------------------------------------------------------
# Valid messages

COMMON_INDICATORS: dict[str, Any] = {
    "leadership_mechanism": True,
    "management_body": True,
    "operations_team": "established",
    "zone_defined": True,
    "planned_area_mu": 3000,
    "core_area_mu": 512.5,
    "application_projects": [
        {"name": "Smart port logistics", "field": "logistics"},
        {"name": "Tele-clinic", "field": "medical"},
    ],
    "plan_status": "issued",
    "support_policies": True,
    "funding_ratio": {"province": 1, "city": 1.5, "district": 2},
    "service_platforms": 3,
    "fibre_mbps": 300,
    "lte_full_coverage": True,
    "public_wlan_full_coverage": False,
}
TRACK_INDICATORS: dict[str, dict[str, Any]] = {
    indicators.INDUSTRIAL: {
        "backbone_enterprises_200m": 4,
        "internet_enterprises_30m": 6,
        "internet_enterprises": 40,
        "internet_enterprises_with_rd": 12,
        "innovation_platforms": 2,
        "rd_collaborations": 5,
    },
    indicators.APPLICATION: {
        "internet_tech_enterprises": 15,
        "traditional_enterprises": 80,
        "traditional_enterprises_integrated": 30,
        "enterprises": 120,
        "enterprises_with_it_department": 25,
        "innovation_platforms": 1,
        "rd_collaborations": 3,
    },
}


def track_indicators(track: str) -> dict[str, Any]:
    return {**COMMON_INDICATORS, **TRACK_INDICATORS[track]}


APPLICANT_ATTESTATION = {"truthful": True, "lawful": True, "feasible": True}

ACTORS = {
    "applicant": {"role": "applicant", "id": "u-123", "organisation": "Huangpu", "city": "guangzhou"},
    "city": {"role": "city", "id": "c-9", "organisation": "Guangzhou bureau", "city": "guangzhou"},
    "province": {"role": "province", "id": "p-1", "organisation": "Provincial bureau"},
}

PAYLOADS: dict[str, tuple[str, dict[str, Any]]] = {
    "application.submitted": (
        "applicant",
        {
            "town_name": "Huangpu",
            "track": "industrial",
            "city": "guangzhou",
            "applicant": {"name": "Huangpu Town Government", "kind": "town_government"},
            "indicators": track_indicators("industrial"),
            "attestation": APPLICANT_ATTESTATION,
        },
    ),
    "application.resubmitted": (
        "applicant",
        {"indicators": track_indicators("application"), "attestation": APPLICANT_ATTESTATION},
    ),
    "application.withdrawn": ("applicant", {"reason": "merged with a neighbouring town"}),
    "application.returned": ("city", {"reason": "the plan is missing"}),
    "application.city_verified": (
        "city",
        {"attestation": {"truthful": True, "complete": True}, "notes": "checked on site"},
    ),
    "application.recommended": ("city", {"rank": 1, "notes": "first choice"}),
    "application.rejected": ("province", {"reason": "below the threshold"}),
    "materials.received": (
        "province",
        {"paper_copies": 2, "a4_bound": True, "electronic_copies": 1, "electronic_labelled": True},
    ),
    "application.evaluated": (
        "province",
        {
            "score": 87.5,
            "panel": ["Li Ming", "Chen Hua"],
            "findings": "strong platform base",
            "waivers": [{"criterion": "1(2)", "reason": "the district funds the gap"}],
        },
    ),
    "application.approved": ("province", {"decision_ref": "粤经信〔2017〕12号"}),
}


def envelope(event_type: str = "application.submitted", **overrides: Any) -> dict[str, Any]:
    role, payload = PAYLOADS.get(event_type, ("province", {}))
    env = {
        "message_id": "msg-0001",
        "type": event_type,
        "occurred_at": "2017-03-10T09:30:00+08:00",
        "application_ref": "GZ-2017-001",
        "call_id": "GD-ITOWN-2017-B2",
        "actor": copy.deepcopy(ACTORS[role]),
        "payload": copy.deepcopy(payload),
    }
    env.update(overrides)
    return env


def test_event_types_follow_the_contract_table():
    assert EVENT_TYPES == tuple(PAYLOADS)
    assert ENVELOPE_ROLES == ("applicant", "city", "province", "auditor", "operator")


@pytest.mark.parametrize("event_type", EVENT_TYPES)
def test_a_valid_envelope_of_every_type_loads(event_type):
    raw = envelope(event_type)
    parsed = parse_envelope(copy.deepcopy(raw))

    assert set(parsed) == {
        "message_id", "type", "occurred_at", "application_ref", "call_id", "actor", "payload",
    }
    assert parsed["type"] == event_type
    assert parsed["occurred_at"] == datetime(2017, 3, 10, 1, 30, tzinfo=timezone.utc)
    assert parsed["occurred_at"].utcoffset() == timedelta(hours=8)
    assert parsed["payload"] == raw["payload"]
    assert parsed["actor"]["role"] == raw["actor"]["role"]
    # everything but occurred_at is plain JSON data
    json.dumps({k: v for k, v in parsed.items() if k != "occurred_at"})


@pytest.mark.parametrize("track", indicators.TRACKS)
def test_a_submission_of_either_track_loads(track):
    env = envelope()
    env["payload"]["track"] = track
    env["payload"]["indicators"] = track_indicators(track)
    assert parse_envelope(env)["payload"]["indicators"] == track_indicators(track)


@pytest.mark.parametrize(
    "event_type, field, default",
    [
        ("application.city_verified", "notes", ""),
        ("application.recommended", "notes", ""),
        ("application.evaluated", "findings", ""),
        ("application.evaluated", "waivers", []),
    ],
)
def test_optional_payload_fields_take_their_defaults(event_type, field, default):
    env = envelope(event_type)
    del env["payload"][field]
    assert parse_envelope(env)["payload"][field] == default


def test_the_actor_defaults_organisation_and_city():
    env = envelope("application.rejected", actor={"role": "province", "id": "p-1"})
    assert parse_envelope(env)["actor"] == {
        "role": "province", "id": "p-1", "organisation": "", "city": None,
    }


@pytest.mark.parametrize("role", ["province", "auditor", "operator"])
def test_other_roles_may_carry_a_null_or_real_city(role):
    """Accepted, as an unknown field would be; the service does not record it (test_service)."""
    for city in (None, "shunde"):
        env = envelope("application.rejected", actor={"role": role, "id": "x", "city": city})
        assert parse_envelope(env)["actor"]["city"] == city


def test_numbers_keep_their_json_type():
    payload = parse_envelope(envelope())["payload"]["indicators"]
    assert type(payload["planned_area_mu"]) is int
    assert type(payload["core_area_mu"]) is float
    assert type(payload["service_platforms"]) is int
    assert payload["funding_ratio"] == {"province": 1, "city": 1.5, "district": 2}


def test_a_resubmission_needs_only_the_common_fields_but_types_track_fields():
    env = envelope("application.resubmitted")
    env["payload"]["indicators"] = dict(COMMON_INDICATORS)
    assert parse_envelope(env)["payload"]["indicators"] == COMMON_INDICATORS

    env["payload"]["indicators"]["enterprises"] = "many"
    with pytest.raises(SchemaInvalid) as caught:
        parse_envelope(env)
    assert caught.value.details == {"payload.indicators.enterprises": "Not a valid integer."}


def test_a_submission_types_the_other_tracks_fields_if_present():
    env = envelope()  # industrial
    env["payload"]["indicators"]["enterprises"] = -1
    with pytest.raises(SchemaInvalid) as caught:
        parse_envelope(env)
    assert list(caught.value.details) == ["payload.indicators.enterprises"]


# ---------------------------------------------------------------------------------------------
# Unknown fields


def _add_unknown_everywhere(env: dict[str, Any]) -> None:
    env["extra"] = 1
    env["actor"]["extra"] = {"nested": True}
    payload = env["payload"]
    payload["extra"] = [1, 2]
    payload["applicant"]["extra"] = "x"
    payload["attestation"]["extra"] = False
    payload["indicators"]["extra"] = None
    payload["indicators"]["funding_ratio"]["extra"] = 0
    payload["indicators"]["application_projects"][0]["extra"] = "y"


def test_unknown_fields_at_every_level_are_dropped():
    env = envelope()
    _add_unknown_everywhere(env)
    parsed = parse_envelope(env)

    assert parsed == parse_envelope(envelope())


def test_unknown_fields_in_waivers_are_dropped():
    env = envelope("application.evaluated")
    env["payload"]["waivers"][0]["extra"] = 1
    assert parse_envelope(env)["payload"]["waivers"] == PAYLOADS["application.evaluated"][1]["waivers"]


# ---------------------------------------------------------------------------------------------
# Refusals


def _parent(env: dict, path: str) -> tuple[Any, Any]:
    """The container holding a dotted path's last part (list indices as digits), and that key."""
    *parents, last = path.split(".")
    node: Any = env
    for part in parents:
        node = node[int(part)] if isinstance(node, list) else node[part]
    return node, int(last) if isinstance(node, list) else last


def _set(path: str, value: Any) -> Callable[[dict], None]:
    def change(env: dict) -> None:
        node, key = _parent(env, path)
        node[key] = value

    return change


def _delete(path: str) -> Callable[[dict], None]:
    def change(env: dict) -> None:
        node, key = _parent(env, path)
        del node[key]

    return change


def _missing_track_field(track: str) -> Callable[[dict], None]:
    def change(env: dict) -> None:
        env["payload"]["track"] = track
        env["payload"]["indicators"] = track_indicators(track)
        del env["payload"]["indicators"][indicators.TRACK_FIELDS[track][0]]

    return change


ENVELOPE_REFUSALS = [
    ("missing message_id", "application.submitted", _delete("message_id"), "message_id"),
    ("129-char message_id", "application.submitted", _set("message_id", "m" * 129), "message_id"),
    ("empty message_id", "application.submitted", _set("message_id", ""), "message_id"),
    ("numeric message_id", "application.submitted", _set("message_id", 7), "message_id"),
    ("naive occurred_at", "application.submitted", _set("occurred_at", "2017-03-10T09:30:00"),
     "occurred_at"),
    ("garbled occurred_at", "application.submitted", _set("occurred_at", "last Tuesday"),
     "occurred_at"),
    ("129-char application_ref", "application.submitted",
     _set("application_ref", "r" * 129), "application_ref"),
    ("empty call_id", "application.submitted", _set("call_id", ""), "call_id"),
    ("empty type", "application.submitted", _set("type", ""), "type"),
    ("bad actor.city", "application.submitted", _set("actor.city", "hongkong"), "actor.city"),
    ("applicant without city", "application.submitted", _delete("actor.city"), "actor.city"),
    ("city actor with null city", "application.returned", _set("actor.city", None), "actor.city"),
    ("bad actor.role", "application.rejected", _set("actor.role", "system"), "actor.role"),
    ("actor not an object", "application.rejected", _set("actor", "p-1"), "actor"),
    ("payload not an object", "application.submitted", _set("payload", [1]), "payload"),
    ("payload missing", "application.submitted", _delete("payload"), "payload"),
]

PAYLOAD_REFUSALS = [
    ("industrial field missing", "application.submitted", _missing_track_field("industrial"),
     "payload.indicators.backbone_enterprises_200m"),
    ("application field missing", "application.submitted", _missing_track_field("application"),
     "payload.indicators.internet_tech_enterprises"),
    ("common field missing on resubmission", "application.resubmitted",
     _delete("payload.indicators.fibre_mbps"), "payload.indicators.fibre_mbps"),
    ("bool as count", "application.submitted",
     _set("payload.indicators.service_platforms", True), "payload.indicators.service_platforms"),
    ("bool as copies", "materials.received", _set("payload.paper_copies", False),
     "payload.paper_copies"),
    ("float as count", "application.submitted",
     _set("payload.indicators.rd_collaborations", 2.5), "payload.indicators.rd_collaborations"),
    ("string as number", "application.submitted", _set("payload.indicators.fibre_mbps", "300"),
     "payload.indicators.fibre_mbps"),
    ("string as area", "application.submitted", _set("payload.indicators.planned_area_mu", "3000"),
     "payload.indicators.planned_area_mu"),
    ("bool as number", "application.submitted",
     _set("payload.indicators.funding_ratio.city", True), "payload.indicators.funding_ratio.city"),
    ("negative count", "application.submitted", _set("payload.indicators.service_platforms", -1),
     "payload.indicators.service_platforms"),
    ("negative copies", "materials.received", _set("payload.electronic_copies", -1),
     "payload.electronic_copies"),
    ("negative area", "application.submitted", _set("payload.indicators.core_area_mu", -0.5),
     "payload.indicators.core_area_mu"),
    ("'yes' as bool", "application.submitted", _set("payload.indicators.zone_defined", "yes"),
     "payload.indicators.zone_defined"),
    ("1 as bool", "materials.received", _set("payload.a4_bound", 1), "payload.a4_bound"),
    ("bad operations_team", "application.submitted",
     _set("payload.indicators.operations_team", "hiring"), "payload.indicators.operations_team"),
    ("bad project field", "application.submitted",
     _set("payload.indicators.application_projects.1.field", "mining"),
     "payload.indicators.application_projects.1.field"),
    ("bad track", "application.submitted", _set("payload.track", "mixed"), "payload.track"),
    ("bad payload city", "application.submitted", _set("payload.city", "macau"), "payload.city"),
    ("bad applicant kind", "application.submitted", _set("payload.applicant.kind", "village"),
     "payload.applicant.kind"),
    ("empty town_name", "application.submitted", _set("payload.town_name", ""),
     "payload.town_name"),
    ("attestation false", "application.submitted", _set("payload.attestation.lawful", False),
     "payload.attestation.lawful"),
    ("attestation missing a part", "application.resubmitted",
     _delete("payload.attestation.feasible"), "payload.attestation.feasible"),
    ("city attestation false", "application.city_verified",
     _set("payload.attestation.complete", False), "payload.attestation.complete"),
    ("empty reason", "application.withdrawn", _set("payload.reason", ""), "payload.reason"),
    ("missing reason", "application.rejected", _delete("payload.reason"), "payload.reason"),
    ("waiver clause 3(1)", "application.evaluated",
     _set("payload.waivers.0.criterion", "3(1)"), "payload.waivers.0.criterion"),
    ("waiver without reason", "application.evaluated", _delete("payload.waivers.0.reason"),
     "payload.waivers.0.reason"),
    ("empty panel name", "application.evaluated", _set("payload.panel.1", ""), "payload.panel.1"),
    ("rank 0", "application.recommended", _set("payload.rank", 0), "payload.rank"),
    ("score 101", "application.evaluated", _set("payload.score", 101), "payload.score"),
    ("negative score", "application.evaluated", _set("payload.score", -1), "payload.score"),
    ("missing decision_ref", "application.approved", _delete("payload.decision_ref"),
     "payload.decision_ref"),
]


@pytest.mark.parametrize(
    "event_type, change, path",
    [case[1:] for case in ENVELOPE_REFUSALS + PAYLOAD_REFUSALS],
    ids=[case[0] for case in ENVELOPE_REFUSALS + PAYLOAD_REFUSALS],
)
def test_a_shape_error_is_schema_invalid_at_its_path(event_type, change, path):
    env = envelope(event_type)
    change(env)
    with pytest.raises(SchemaInvalid) as caught:
        parse_envelope(env)

    error = caught.value
    assert error.code == "schema_invalid"
    assert list(error.details) == [path]
    where = "payload" if path.startswith("payload.") else "envelope"
    assert error.message == f"the {where} is invalid: {path}: {error.details[path]}"


def test_a_naive_time_says_it_needs_an_offset():
    with pytest.raises(SchemaInvalid) as caught:
        parse_envelope(envelope(occurred_at="2017-03-10T09:30:00"))
    assert "needs an offset" in caught.value.details["occurred_at"]


def test_an_attestation_that_is_not_true_says_so():
    env = envelope()
    env["payload"]["attestation"]["lawful"] = False
    with pytest.raises(SchemaInvalid) as caught:
        parse_envelope(env)
    assert caught.value.details == {"payload.attestation.lawful": "must be true"}


def test_every_failing_field_is_in_details_and_the_first_in_the_message():
    env = envelope()
    del env["message_id"]
    env["actor"]["city"] = "atlantis"
    with pytest.raises(SchemaInvalid) as caught:
        parse_envelope(env)
    assert set(caught.value.details) == {"message_id", "actor.city"}
    assert caught.value.message.startswith("the envelope is invalid: message_id: ")


@pytest.mark.parametrize("value", [None, [], ["a"], "text", 3, 2.5, True])
def test_anything_but_an_object_is_malformed(value):
    with pytest.raises(Malformed) as caught:
        parse_envelope(value)
    assert caught.value.code == "malformed"
    assert caught.value.message == "the message is not a JSON object"


def test_an_unknown_type_of_an_otherwise_valid_envelope_is_unknown_type():
    with pytest.raises(UnknownType) as caught:
        parse_envelope(envelope("application.teleported", payload={"anything": [1, "x"]}))
    assert caught.value.code == "unknown_type"
    assert caught.value.details == {"type": "application.teleported"}


@pytest.mark.parametrize(
    "change, path",
    [
        (_delete("message_id"), "message_id"),
        (_set("occurred_at", "2017-03-10T09:30:00"), "occurred_at"),
        (_set("payload", "not an object"), "payload"),
        (_set("actor.role", "nobody"), "actor.role"),
    ],
)
def test_an_envelope_error_wins_over_an_unknown_type(change, path):
    env = envelope("application.teleported")
    change(env)
    with pytest.raises(SchemaInvalid) as caught:
        parse_envelope(env)
    assert list(caught.value.details) == [path]


def test_an_unknown_type_wins_over_a_payload_error():
    env = envelope("application.teleported", payload={"score": 101})
    with pytest.raises(UnknownType):
        parse_envelope(env)
