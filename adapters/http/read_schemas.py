"""The reading endpoints' arguments and answers (CONTRACT.md §3), as marshmallow schemas: the
arguments are validated with them, the answers dumped through them and both documented in
OpenAPI. Instants travel as ISO 8601 strings with an offset; the views format them."""

from __future__ import annotations

import re

from marshmallow import Schema, fields, pre_load, validate

from adapters.http.cursor import CursorField
from domain.indicators import TRACKS
from domain.jurisdictions import CITY_CODES
from domain.lifecycle import STATES

MAX_LIMIT = 500
DEFAULT_LIMIT = 50
OUTCOMES = ("pending", "on_time", "lapsed", "reinstated", "not_applicable")
_SPACED_OFFSET = re.compile(r" (\d{2}:?\d{2})$")


def _instant(description: str) -> fields.String:
    return fields.String(metadata={"format": "date-time", "description": description})


# -- arguments -------------------------------------------------------------------------------

class ListArgs(Schema):
    call_id = fields.String(metadata={"description": "only this call's applications"})
    status = fields.String(validate=validate.OneOf(STATES))
    city = fields.String(validate=validate.OneOf(CITY_CODES),
                         metadata={"description": "a jurisdiction code, e.g. shunde"})
    track = fields.String(validate=validate.OneOf(TRACKS))
    ref_prefix = fields.String(
        validate=validate.Length(min=1, max=128),
        metadata={"description": "only applications whose reference starts with this text"
                                 " (case-sensitive), e.g. GZ-2017-00; with limit, a bounded"
                                 " search by reference"})
    limit = fields.Integer(load_default=DEFAULT_LIMIT,
                           validate=validate.Range(min=1, max=MAX_LIMIT))
    cursor = CursorField(metadata={"description": "the next_cursor of the previous page"})


class PointArgs(Schema):
    """Where in an application's history to stand; the three combine (all must hold)."""

    as_of = fields.AwareDateTime(
        format="iso", metadata={"description": "business time (ISO 8601 with an offset)"})
    known_at = fields.AwareDateTime(
        format="iso", metadata={"description": "record time: as the service knew it then"})
    version = fields.Integer(validate=validate.Range(min=1),
                             metadata={"description": "after this many events"})

    @pre_load
    def unspaced_offsets(self, data, **_):
        """An unencoded ``+`` in a query string arrives as a space: ``…T09:30:00 08:00``."""
        fixed = dict(data)
        for name in ("as_of", "known_at"):
            if isinstance(fixed.get(name), str):
                fixed[name] = _SPACED_OFFSET.sub(r"+\1", fixed[name])
        return fixed


# -- answers ---------------------------------------------------------------------------------

class DeadlineSchema(Schema):
    outcome = fields.String(required=True, validate=validate.OneOf(OUTCOMES))
    detail = fields.String(required=True)


class ApplicationFields(Schema):
    """What a list item and a whole application both carry."""

    call_id = fields.String(required=True)
    application_ref = fields.String(required=True)
    status = fields.String(required=True, validate=validate.OneOf(STATES))
    version = fields.Integer(required=True)
    town_name = fields.String(required=True)
    city = fields.String(required=True)
    region = fields.String(required=True, metadata={"description": "prd | ewn"})
    track = fields.String(required=True)
    score = fields.Float(allow_none=True)
    deadline = fields.Nested(DeadlineSchema, required=True)


class SummarySchema(ApplicationFields):
    """One application of a list, from the summaries read model."""

    criteria_outcome = fields.String(allow_none=True,
                                     metadata={"description": "pass | warning | fail, or null"})
    updated_at = _instant("business time of the last event")
    recorded_at = _instant("record time of the last event")


class SummaryPageSchema(Schema):
    items = fields.List(fields.Nested(SummarySchema), required=True)
    next_cursor = fields.String(allow_none=True, required=True,
                                metadata={"description": "null on the last page"})


class CriterionSchema(Schema):
    clause = fields.String(required=True, metadata={"description": "e.g. 1(3)"})
    outcome = fields.String(required=True,
                            validate=validate.OneOf(("pass", "fail", "warning", "waived")))
    detail = fields.String(required=True)


class MaterialsSchema(Schema):
    paper_copies = fields.Integer(metadata={"description": "A4, bound copies that count"})
    electronic_copies = fields.Integer(metadata={"description": "labelled copies that count"})
    received_at = _instant("business time of the receipt that completed them")


class BreakSchema(Schema):
    version = fields.Integer(required=True)
    reason = fields.String(required=True)


class ApplicationSchema(ApplicationFields):
    """An application at a point of its history, by replaying its events."""

    applicant = fields.Dict()
    criteria = fields.List(fields.Nested(CriterionSchema), required=True)
    materials = fields.Nested(MaterialsSchema)
    updated_at = _instant("business time of the last event counted")
    as_of = _instant("the as_of asked for, or null")
    known_at = _instant("the known_at asked for, or null")
    version_asked = fields.Integer(allow_none=True)
    counted_versions = fields.List(fields.Integer(), metadata={
        "description": "the versions of the events that count at that point"})
    chain_intact = fields.Boolean(required=True,
                                  metadata={"description": "whether the hash chain holds"})
    chain_break = fields.Nested(BreakSchema, allow_none=True)


class EventSchema(Schema):
    type = fields.String(required=True)
    version = fields.Integer(required=True)
    occurred_at = _instant("business time")
    recorded_at = _instant("record time")
    actor = fields.Dict(required=True)
    message_id = fields.String(required=True)
    data = fields.Dict(required=True)
    hash = fields.String(required=True)
    prev_hash = fields.String(required=True)


class HistorySchema(Schema):
    items = fields.List(fields.Nested(EventSchema), required=True)
    chain_intact = fields.Boolean(required=True)
    first_break = fields.Nested(BreakSchema, allow_none=True, required=True)
