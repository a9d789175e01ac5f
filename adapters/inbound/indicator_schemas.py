"""The indicators of a submission (CONTRACT.md §2): every declared indicator typed, the schema
for each track and ``TrackIndicators``, the field that picks one by the ``track`` beside it."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from marshmallow import Schema, ValidationError, fields, validate

from adapters.inbound.envelope_schema import _Schema
from adapters.inbound.schema_compiler import Defer, compiles, schema_checker
from adapters.inbound.schema_fields import PROJECTS, StrictBoolean, amount, count, one_of, text
from domain import indicators


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
