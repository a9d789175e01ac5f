"""The expected-answer model's shape checks: schema_invalid and unknown_type."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from domain.lifecycle import EVENT_TYPES

from .common import APP, APPLICANT, CITIES, CITY, IND, PROVINCE, TABLES
from .flow import attestation
from .indicators import LIVELIHOOD

COMMON: tuple[str, ...] = tuple(TABLES["common_fields"])
TRACK_FIELDS: dict[str, tuple[str, ...]] = {
    track: tuple(names) for track, names in TABLES["track_fields"].items()}
INDUSTRIAL_ONLY = TRACK_FIELDS[IND]
CLAUSES = {f"{p}({n})" for p in (1, 2) for n in range(1, 8)}


def _count(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and v >= 0


def _number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and v >= 0


def _text(v) -> bool:
    return isinstance(v, str) and len(v) > 0


def _indicators_ok(ind: Any, required: tuple[str, ...]) -> bool:
    if not isinstance(ind, dict) or any(k not in ind for k in required):
        return False
    checks = {
        "operations_team": lambda v: v in ("established", "forming", "none"),
        "plan_status": lambda v: v in ("issued", "drafting", "none"),
        "planned_area_mu": _number, "core_area_mu": _number,
        "application_projects": lambda v: isinstance(v, list) and all(
            isinstance(p, dict) and _text(p.get("name")) and p.get("field") in
            LIVELIHOOD | {"manufacturing", "agriculture", "finance", "logistics", "commerce",
                          "transport", "government"} for p in v),
        "funding_ratio": lambda v: isinstance(v, dict) and all(
            _number(v.get(k)) for k in ("province", "city", "district")),
    }
    for name, value in ind.items():
        if name in checks:
            ok = checks[name](value)
        elif name in COMMON:
            ok = isinstance(value, bool) if "coverage" in name or name in (
                "leadership_mechanism", "management_body", "zone_defined",
                "support_policies") else _count(value)
        elif name in TRACK_FIELDS[IND] + TRACK_FIELDS[APP]:
            ok = _count(value)
        else:
            ok = True  # unknown fields are dropped
        if not ok:
            return False
    return True


def shape_problem(env: dict) -> str | None:
    """schema_invalid / unknown_type for the envelope and payload, in the contract's order."""
    def aware(v):
        try:
            return datetime.fromisoformat(v).tzinfo is not None
        except (TypeError, ValueError):
            return False

    actor = env.get("actor")
    ok = (isinstance(env.get("message_id"), str) and 1 <= len(env["message_id"]) <= 128
          and _text(env.get("type")) and aware(env.get("occurred_at"))
          and _text(env.get("application_ref")) and _text(env.get("call_id"))
          and isinstance(actor, dict) and actor.get("role") in (
              APPLICANT, CITY, PROVINCE, "auditor", "operator") and _text(actor.get("id"))
          and isinstance(env.get("payload"), dict))
    if ok and actor["role"] in (APPLICANT, CITY):
        ok = actor.get("city") in CITIES
    if not ok:
        return "schema_invalid"
    if env["type"] not in EVENT_TYPES:
        return "unknown_type"
    p, t = env["payload"], env["type"]
    if t == "application.submitted":
        ok = (_text(p.get("town_name")) and p.get("track") in (IND, APP)
              and p.get("city") in CITIES and isinstance(p.get("applicant"), dict)
              and _text(p["applicant"].get("name")) and p["applicant"].get("kind") in (
                  "county_government", "town_government", "industrial_park", "high_tech_zone",
                  "bonded_zone", "tourism_zone", "other")
              and _indicators_ok(p.get("indicators"), COMMON + TRACK_FIELDS.get(p.get("track"), ()))
              and p.get("attestation") == attestation())
    elif t == "application.resubmitted":
        ok = _indicators_ok(p.get("indicators"), COMMON) and p.get("attestation") == attestation()
    elif t in ("application.withdrawn", "application.returned", "application.rejected"):
        ok = _text(p.get("reason"))
    elif t == "application.city_verified":
        ok = p.get("attestation") == {"truthful": True, "complete": True}
    elif t == "application.recommended":
        ok = _count(p.get("rank")) and p["rank"] >= 1
    elif t == "materials.received":
        ok = (_count(p.get("paper_copies")) and isinstance(p.get("a4_bound"), bool)
              and _count(p.get("electronic_copies"))
              and isinstance(p.get("electronic_labelled"), bool))
    elif t == "application.evaluated":
        ok = (_number(p.get("score")) and p["score"] <= 100 and isinstance(p.get("panel"), list)
              and all(_text(n) for n in p["panel"]) and all(
                  isinstance(w, dict) and w.get("criterion") in CLAUSES and _text(w.get("reason"))
                  for w in p.get("waivers", [])))
    elif t == "application.approved":
        ok = _text(p.get("decision_ref"))
    return None if ok else "schema_invalid"
