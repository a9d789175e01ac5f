"""The shapes of inbound events (CONTRACT.md §2): the envelope and the payload of every type.

``parse_envelope`` is the one entry point. It checks, in the contract's order, that the message is
an object (``malformed``), that the envelope has its shape (``schema_invalid``), that the type is
known (``unknown_type``) and that the payload has the shape of its type (``schema_invalid``).
Unknown fields are dropped at every level, never refused. Rules that need the application (its
track on a resubmission, its state, the call) are the service's, not this module's.

Every string and list is bounded: identifiers (``message_id``, ``application_ref``, ``call_id``,
the actor's ``id``) hold 1-``ID_CHARS`` characters, no control character and no white space at
either end (CONTRACT.md §2); names (``town_name``, the applicant's, a project's, a panel member's,
the actor's ``organisation``, ``decision_ref``) at most ``NAME_CHARS``; free text (``reason``,
``notes``, ``findings``) at most ``TEXT_CHARS``; ``panel``, ``waivers`` and
``application_projects`` at most ``PANEL_MEMBERS``, ``len(CLAUSE_IDS)`` and ``PROJECTS`` items.
``type`` needs no bound of its own: whatever is not in the table is ``unknown_type``, and what an
error quotes of it is bounded (``domain.errors``).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

from marshmallow import EXCLUDE, Schema, ValidationError, fields, validate, validates_schema
from marshmallow.exceptions import SCHEMA

from adapters.inbound.schema_compiler import Defer, compile_schema, compiles, schema_checker
from adapters.inbound.schema_fields import (  # noqa: F401 - the bounds are part of this module's contract
    ID_CHARS,
    NAME_CHARS,
    PANEL_MEMBERS,
    PROJECTS,
    TEXT_CHARS,
    JsonNumber,
    StrictBoolean,
    amount,
    count,
    identifier,
    must_be_true,
    one_of,
    optional_text,
    text,
)
from domain import indicators, lifecycle
from domain.errors import Malformed, SchemaInvalid, UnknownType
from domain.jurisdictions import CITY_CODES
from domain.principals import LOCAL_ROLES, ROLES

EVENT_TYPES: tuple[str, ...] = lifecycle.EVENT_TYPES
ENVELOPE_ROLES: tuple[str, ...] = ROLES
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

# ---------------------------------------------------------------------------------------------
# Schemas


class _Schema(Schema):
    """Unknown fields are dropped, at every level; a non-object says so plainly."""

    class Meta:
        unknown = EXCLUDE

    error_messages = {"type": "must be an object"}


class ActorSchema(_Schema):
    role = one_of(ENVELOPE_ROLES, required=True)
    id = identifier(required=True)
    organisation = optional_text(NAME_CHARS)
    city = one_of(CITY_CODES, allow_none=True, load_default=None)

    @validates_schema
    def _city_for_local_roles(self, data: dict, **kwargs: Any) -> None:
        if data.get("role") in LOCAL_ROLES and data.get("city") is None:
            raise ValidationError(f"required when the role is {data['role']}", "city")


UNREADABLE_REF = re.compile(r"(?s)\.\.?\Z|.*/history\Z")


class EnvelopeSchema(_Schema):
    message_id = identifier(required=True)
    type = fields.String(required=True, validate=validate.Length(min=1))  # see the module's doc
    occurred_at = fields.AwareDateTime(
        required=True,
        error_messages={
            "invalid": "Not a valid ISO 8601 datetime.",
            "invalid_awareness": "needs an offset, such as +08:00",
        },
    )
    application_ref = identifier(required=True)
    call_id = identifier(required=True)
    actor = fields.Nested(ActorSchema, required=True)
    payload = fields.Dict(required=True, error_messages={"invalid": "must be an object"})

    @validates_schema
    def _readable_ref(self, data: dict, **kwargs: Any) -> None:
        """A new application's ref must be one a reading's path can name: the ref is the rest
        of the path, a last /history names the history, and browsers take . and .. for the
        path's own segments. Applications recorded before the rule keep their refs."""
        ref = data.get("application_ref", "")
        if data.get("type") == lifecycle.SUBMIT and UNREADABLE_REF.match(ref):
            raise ValidationError("may not be . or .., nor end in /history", "application_ref")


class FundingRatioSchema(_Schema):
    province = amount(required=True)
    city = amount(required=True)
    district = amount(required=True)


class ProjectSchema(_Schema):
    name = text(required=True)
    field = one_of(indicators.PROJECT_FIELDS, required=True)


_INDICATOR_FIELDS: dict[str, Callable[..., fields.Field]] = {
    "leadership_mechanism": StrictBoolean,
    "management_body": StrictBoolean,
    "operations_team": lambda **kw: one_of(indicators.OPERATIONS_TEAM, **kw),
    "zone_defined": StrictBoolean,
    "planned_area_mu": amount,
    "core_area_mu": amount,
    "application_projects": lambda **kw: fields.List(
        fields.Nested(ProjectSchema), validate=validate.Length(max=PROJECTS), **kw),
    "plan_status": lambda **kw: one_of(indicators.PLAN_STATUS, **kw),
    "support_policies": StrictBoolean,
    "funding_ratio": lambda **kw: fields.Nested(FundingRatioSchema, **kw),
    "service_platforms": count,
    "fibre_mbps": amount,
    "lte_full_coverage": StrictBoolean,
    "public_wlan_full_coverage": StrictBoolean,
    # the tracks' fields: all counts
    **{name: count for fields_ in indicators.TRACK_FIELDS.values() for name in fields_},
}
assert set(_INDICATOR_FIELDS) == set(indicators.COMMON_FIELDS).union(
    *indicators.TRACK_FIELDS.values()
), "every declared indicator needs a field type here"


def _indicators_schema(name: str, required: tuple[str, ...]) -> type[Schema]:
    """Every indicator typed; those in ``required`` must be present."""
    return _Schema.from_dict(
        {key: make(required=key in required) for key, make in _INDICATOR_FIELDS.items()},
        name=name,
    )


IndicatorsSchema = _indicators_schema("IndicatorsSchema", indicators.COMMON_FIELDS)
"""The common fields required, every track field optional: a resubmission, whose track is unknown here."""

TRACK_INDICATORS_SCHEMAS: dict[str, type[Schema]] = {
    track: _indicators_schema(
        f"{track.title()}IndicatorsSchema",
        indicators.COMMON_FIELDS + indicators.TRACK_FIELDS[track],
    )
    for track in indicators.TRACKS
}


_TRACK_INDICATORS = {track: schema() for track, schema in TRACK_INDICATORS_SCHEMAS.items()}
_ANY_TRACK_INDICATORS = IndicatorsSchema()


class TrackIndicators(fields.Field):
    """The indicators of a first submission, checked against the ``track`` beside them."""

    def _deserialize(self, value, attr, data, **kwargs) -> dict:
        track = data.get("track") if isinstance(data, Mapping) else None
        if not isinstance(track, str):  # a missing or mistyped track is reported on its own
            track = None
        schema = _TRACK_INDICATORS.get(track, _ANY_TRACK_INDICATORS)
        try:
            return schema.load(value)
        except ValidationError as exc:
            raise ValidationError(exc.messages) from exc


@compiles(TrackIndicators)
def _track_indicators(field: TrackIndicators):
    by_track = {track: schema_checker(schema) for track, schema in _TRACK_INDICATORS.items()}

    def convert(value: Any, data: dict) -> dict:
        track = data.get("track")
        if type(track) is not str or track not in by_track:
            raise Defer
        return by_track[track](value, data)

    return convert


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

_ENVELOPE = EnvelopeSchema()

_COMPILED_ENVELOPE = compile_schema(_ENVELOPE)
_COMPILED_PAYLOADS = {name: compile_schema(schema) for name, schema in PAYLOAD_SCHEMAS.items()}
"""The same schemas compiled for valid messages (``adapters.inbound.schema_compiler``); anything they
do not accept goes through marshmallow, which names the errors."""


# ---------------------------------------------------------------------------------------------
# Parsing


def parse_envelope(obj: Any) -> dict:
    """Checks a decoded JSON message and returns it loaded, unknown fields dropped.

    Refusals, in the contract's order: not an object → ``Malformed``; the envelope's shape →
    ``SchemaInvalid``; a type not in ``EVENT_TYPES`` → ``UnknownType``; the payload's shape →
    ``SchemaInvalid``. A ``SchemaInvalid`` names the first failing field in its message and maps
    every failing dotted path (``actor.city``, ``payload.waivers.0.criterion``) to its message in
    ``details``.

    The result has ``message_id``, ``type``, ``occurred_at`` (an aware datetime),
    ``application_ref``, ``call_id``, ``actor`` (``role``, ``id``, ``organisation``, ``city`` or
    None) and ``payload``; everything but ``occurred_at`` is plain JSON data.
    """
    if not isinstance(obj, dict):
        raise Malformed("the message is not a JSON object")
    envelope = _COMPILED_ENVELOPE(obj)
    if envelope is not None:
        compiled = _COMPILED_PAYLOADS.get(envelope["type"])
        payload = compiled(envelope["payload"]) if compiled else None
        if payload is not None:
            envelope["payload"] = payload
            return envelope
    try:
        envelope = _ENVELOPE.load(obj)
    except ValidationError as exc:
        raise _schema_invalid("the envelope is invalid", exc.messages) from exc
    event_type = envelope["type"]
    if event_type not in PAYLOAD_SCHEMAS:
        raise UnknownType(f"unknown event type {event_type!r}", details={"type": event_type})
    try:
        envelope["payload"] = PAYLOAD_SCHEMAS[event_type].load(envelope["payload"])
    except ValidationError as exc:
        raise _schema_invalid("the payload is invalid", {"payload": exc.messages}) from exc
    return envelope


def _schema_invalid(what: str, messages: Any) -> SchemaInvalid:
    details = _flatten(messages)
    path, message = next(iter(details.items()))
    return SchemaInvalid(f"{what}: {path}: {message}", details=details)


def _flatten(messages: Any, path: str = "") -> dict[str, str]:
    """Marshmallow's nested errors as ``{"dotted.path": "message; message"}``, in their order.

    A schema-level error (a non-object where an object belongs) is reported at its parent's path.
    """
    if isinstance(messages, Mapping):
        flat: dict[str, str] = {}
        for key, value in messages.items():
            child = path if key == SCHEMA else f"{path}.{key}" if path else str(key)
            for sub_path, text_ in _flatten(value, child).items():
                flat[sub_path] = f"{flat[sub_path]}; {text_}" if sub_path in flat else text_
        return flat
    if isinstance(messages, (list, tuple)):
        flat = {}
        texts = []
        for item in messages:
            if isinstance(item, (Mapping, list, tuple)):
                flat.update(_flatten(item, path))
            else:
                texts.append(str(item))
        if texts:
            flat = {path or "(message)": "; ".join(texts), **flat}
        return flat
    return {path or "(message)": str(messages)}
