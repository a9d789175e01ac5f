"""The payload of every inbound event type (CONTRACT.md §2), in ``PAYLOAD_SCHEMAS`` by type."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from adapters.inbound.envelope_schema import _Schema
from adapters.inbound.indicator_schemas import IndicatorsSchema, TrackIndicators
from adapters.inbound.schema_fields import (
    PANEL_MEMBERS,
    TEXT_CHARS,
    JsonNumber,
    StrictBoolean,
    count,
    must_be_true,
    one_of,
    optional_text,
    text,
)
from domain import indicators, lifecycle
from domain.jurisdictions import CITY_CODES

EVENT_TYPES: tuple[str, ...] = lifecycle.EVENT_TYPES
APPLICANT_KINDS: tuple[str, ...] = (
    "county_government",
    "town_government",
    "industrial_park",
    "high_tech_zone",
    "bonded_zone",
    "tourism_zone",
    "other",
)
CLAUSE_IDS: tuple[str, ...] = tuple(f"{part}({n})" for part in (1, 2) for n in range(1, 8))
"""The guide's 14 clauses, ``1(1)`` … ``1(7)`` and ``2(1)`` … ``2(7)``: what a waiver may name."""


class ApplicantSchema(_Schema):
    name = text(required=True)
    kind = one_of(APPLICANT_KINDS, required=True)


class ApplicantAttestationSchema(_Schema):
    truthful = must_be_true(required=True)
    lawful = must_be_true(required=True)
    feasible = must_be_true(required=True)


class CityAttestationSchema(_Schema):
    truthful = must_be_true(required=True)
    complete = must_be_true(required=True)


class WaiverSchema(_Schema):
    criterion = one_of(CLAUSE_IDS, required=True)
    reason = text(TEXT_CHARS, required=True)


class SubmittedSchema(_Schema):
    town_name = text(required=True)
    track = one_of(indicators.TRACKS, required=True)
    city = one_of(CITY_CODES, required=True)
    applicant = fields.Nested(ApplicantSchema, required=True)
    indicators = TrackIndicators(required=True)
    attestation = fields.Nested(ApplicantAttestationSchema, required=True)


class ResubmittedSchema(_Schema):
    indicators = fields.Nested(IndicatorsSchema, required=True)
    attestation = fields.Nested(ApplicantAttestationSchema, required=True)


class ReasonSchema(_Schema):
    """Withdrawn, returned, rejected."""

    reason = text(TEXT_CHARS, required=True)


class CityVerifiedSchema(_Schema):
    attestation = fields.Nested(CityAttestationSchema, required=True)
    notes = optional_text()


class RecommendedSchema(_Schema):
    rank = fields.Integer(strict=True, required=True, validate=validate.Range(min=1))
    notes = optional_text()


class MaterialsReceivedSchema(_Schema):
    paper_copies = count(required=True)
    a4_bound = StrictBoolean(required=True)
    electronic_copies = count(required=True)
    electronic_labelled = StrictBoolean(required=True)


class EvaluatedSchema(_Schema):
    score = JsonNumber(required=True, validate=validate.Range(min=0, max=100))
    panel = fields.List(text(), required=True, validate=validate.Length(max=PANEL_MEMBERS))
    findings = optional_text()
    waivers = fields.List(fields.Nested(WaiverSchema), load_default=list,
                          validate=validate.Length(max=len(CLAUSE_IDS)))


class ApprovedSchema(_Schema):
    decision_ref = text(required=True)


PAYLOAD_SCHEMAS: dict[str, Schema] = {
    "application.submitted": SubmittedSchema(),
    "application.resubmitted": ResubmittedSchema(),
    "application.withdrawn": ReasonSchema(),
    "application.returned": ReasonSchema(),
    "application.city_verified": CityVerifiedSchema(),
    "application.recommended": RecommendedSchema(),
    "application.rejected": ReasonSchema(),
    "materials.received": MaterialsReceivedSchema(),
    "application.evaluated": EvaluatedSchema(),
    "application.approved": ApprovedSchema(),
}
assert tuple(PAYLOAD_SCHEMAS) == EVENT_TYPES
