"""The dead-letter filter over HTTP (``adapters.store.dead_letter_filter``): the same criteria as
query arguments of ``GET /api/v1/ops/dead-letters`` and ``GET /api/v1/ops/dead-letters/count``,
and as fields of a bulk ``POST /api/v1/ops/dead-letters/requeue`` (with ``"all": true``); a
value that is not valid is ``schema_invalid`` (422) naming the field.

``GET /api/v1/ops/dead-letters/count``: how many open letters a filter matches, what a bulk
re-drive with it would take (at most ``MAX_BULK`` per request); the page asks it before its
confirmation.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from marshmallow import Schema, fields

from adapters.http.auth import require_roles
from adapters.http.context import current_towns
from adapters.http.ops_blueprint import blp
from adapters.ops import dead_letters
from adapters.store.dead_letter_filter import (
    INSTANTS,
    NAMES,
    TEXTS,
    FilterError,
    LetterFilter,
)
from adapters.store.inbound_records import InboundRecords
from domain.errors import SchemaInvalid
from domain.principals import OPERATOR

MAX_BULK = 500
"""At most this many letters per bulk re-drive request (``limit`` lowers it)."""


class DeadLetterFilterSchema(Schema):
    """The filter's criteria as query arguments; all optional, combined with AND."""

    code = fields.String(metadata={"description": f"only letters dead-lettered with this code "
                                                  f"(1-{TEXTS['code'][0]} characters)"})
    type = fields.String(metadata={"description": f"only this event type, the routing key "
                                                  f"(1-{TEXTS['type'][0]} characters)"})
    ref = fields.String(metadata={"description": f"only this application_ref "
                                                 f"(1-{TEXTS['ref'][0]} characters)"})
    call = fields.String(metadata={"description": f"only this call_id (1-{TEXTS['call'][0]} characters)"})
    user = fields.String(metadata={"description": f"only letters published by this user "
                                                  f"(user_id, 1-{TEXTS['user'][0]} characters)"})
    since = fields.String(metadata={"description": INSTANTS["since"]})
    until = fields.String(metadata={"description": INSTANTS["until"]})


def letter_filter(values: Mapping[str, Any]) -> LetterFilter:
    """The filter of ``values`` (the criteria among them); ``schema_invalid`` naming each field
    in error."""
    try:
        return LetterFilter.parse({name: values.get(name) for name in NAMES})
    except FilterError as error:
        raise SchemaInvalid(str(error), error.details) from None


class CountSchema(Schema):
    open = fields.Integer(required=True, metadata={"description": "open letters matching"})
    redrivable = fields.Integer(required=True, metadata={
        "description": "of those, the ones whose body is stored: what a re-drive can take"})
    truncated = fields.Boolean(required=True, metadata={
        "description": f"more than {dead_letters.SCAN} match: counted up to there"})
    limit = fields.Integer(required=True, metadata={
        "description": "the most one bulk re-drive request takes"})
    filter = fields.Dict(required=True, metadata={"description": "the criteria, as understood"})


@blp.route("/api/v1/ops/dead-letters/count")
@require_roles(OPERATOR)
@blp.arguments(DeadLetterFilterSchema, location="query", as_kwargs=True)
@blp.response(200, CountSchema, description="how many open dead letters match")
def count_dead_letters(**criteria: str):
    """Open dead letters matching a filter

    What a bulk re-drive (``{"all": true}`` with the same criteria) would take, at most 500 per
    request; at most 10,000 are counted (``truncated`` beyond).
    """
    where = letter_filter(criteria)
    found = dead_letters.count(InboundRecords(current_towns()), where)
    return {**found, "limit": MAX_BULK, "filter": where.as_dict()}
