"""Builders of envelopes for tests: a valid message of every type, overridable field by field."""

from __future__ import annotations

import itertools
import json
from datetime import datetime, timedelta, timezone
from typing import Any

CALL = "GD-ITOWN-2017-B2"
CST = timezone(timedelta(hours=8))
_ids = itertools.count(1)


def at(day: int, hour: int = 10, month: int = 3) -> str:
    return datetime(2017, month, day, hour, tzinfo=CST).isoformat()


def indicators(track: str = "industrial", **overrides: Any) -> dict:
    common = {
        "leadership_mechanism": True,
        "management_body": True,
        "operations_team": "established",
        "zone_defined": True,
        "planned_area_mu": 320,
        "core_area_mu": 160,
        "application_projects": [{"name": "Smart factory", "field": "manufacturing"},
                                 {"name": "Tele-clinic", "field": "medical"}],
        "plan_status": "issued",
        "support_policies": True,
        "funding_ratio": {"province": 1, "city": 1, "district": 1},
        "service_platforms": 4,
        "fibre_mbps": 200,
        "lte_full_coverage": True,
        "public_wlan_full_coverage": True,
    }
    if track == "industrial":
        common.update(backbone_enterprises_200m=3, internet_enterprises_30m=12,
                      internet_enterprises=40, internet_enterprises_with_rd=10,
                      innovation_platforms=4, rd_collaborations=12)
    else:
        common.update(internet_tech_enterprises=5, traditional_enterprises=100,
                      traditional_enterprises_integrated=40, enterprises=50,
                      enterprises_with_it_department=20, innovation_platforms=2,
                      rd_collaborations=4)
    common.update(overrides)
    return common


def actor(role: str, city: str | None = None) -> dict:
    data = {"role": role, "id": f"u-{role}", "organisation": f"{role} office"}
    if city:
        data["city"] = city
    return data


PAYLOADS = {
    "application.submitted": lambda city, track: {
        "town_name": "Beijiao Town (北滘镇)",
        "track": track,
        "city": city,
        "applicant": {"name": "Beijiao Town Government", "kind": "town_government"},
        "indicators": indicators(track),
        "attestation": {"truthful": True, "lawful": True, "feasible": True},
    },
    "application.resubmitted": lambda city, track: {
        "indicators": indicators(track),
        "attestation": {"truthful": True, "lawful": True, "feasible": True},
    },
    "application.withdrawn": lambda city, track: {"reason": "merged with a neighbour"},
    "application.returned": lambda city, track: {"reason": "zone map missing"},
    "application.city_verified": lambda city, track: {
        "attestation": {"truthful": True, "complete": True}, "notes": "checked"},
    "application.recommended": lambda city, track: {"rank": 1, "notes": "first choice"},
    "application.rejected": lambda city, track: {"reason": "does not qualify"},
    "materials.received": lambda city, track: {
        "paper_copies": 2, "a4_bound": True, "electronic_copies": 1, "electronic_labelled": True},
    "application.evaluated": lambda city, track: {
        "score": 88, "panel": ["Li Wei", "Chen Jing"], "findings": "sound", "waivers": []},
    "application.approved": lambda city, track: {"decision_ref": "粤经信函〔2017〕101号"},
}

ROLE_OF = {
    "application.submitted": "applicant",
    "application.resubmitted": "applicant",
    "application.withdrawn": "applicant",
    "application.returned": "city",
    "application.city_verified": "city",
    "application.recommended": "city",
    "application.rejected": "city",
    "materials.received": "province",
    "application.evaluated": "province",
    "application.approved": "province",
}


def envelope(
    type_: str,
    ref: str = "SD-2017-001",
    city: str = "shunde",
    track: str = "industrial",
    role: str | None = None,
    occurred_at: str | None = None,
    message_id: str | None = None,
    payload: dict | None = None,
    **payload_overrides: Any,
) -> dict:
    role = role or ROLE_OF[type_]
    body = PAYLOADS[type_](city, track) if payload is None else payload
    body.update(payload_overrides)
    return {
        "message_id": message_id or f"test-{next(_ids)}",
        "type": type_,
        "occurred_at": occurred_at or at(10),
        "application_ref": ref,
        "call_id": CALL,
        "actor": actor(role, None if role == "province" else city),
        "payload": body,
    }


def encode(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False).encode("utf-8")
