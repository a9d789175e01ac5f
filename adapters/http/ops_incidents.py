"""The operators' incidents, charts and re-drive history, part of the operators' area
(``adapters.http.ops``):

- ``GET /api/v1/ops/incidents``: stalled or lagging read models, set-aside events, the
  worker's failures, open dead letters by code (``adapters.ops.incidents``), each bounded;
- ``GET /api/v1/ops/charts?minutes=``: per minute, ingest, refusals and read models' lag;
- ``GET /api/v1/ops/dead-letters/codes``: open dead letters by code (what a bulk re-drive by
  code would take);
- ``GET /api/v1/ops/redrives?limit=``: the last re-drives, newest first, who, when, why and
  what became of their letters; ``GET /api/v1/ops/redrives/{id}``: one of them
  (``adapters.ops.redrives``).
"""

from __future__ import annotations

from uuid import UUID

from marshmallow import Schema, fields, validate

from adapters.http.auth import require_roles
from adapters.http.context import current_towns
from adapters.http.errors import ErrorSchema, error_response
from adapters.http.ops_blueprint import blp, ops_runner
from adapters.ops import incidents, redrives
from adapters.store.inbound_records import InboundRecords
from domain.errors import SchemaInvalid
from domain.principals import OPERATOR


class ChartsQuerySchema(Schema):
    minutes = fields.Integer(load_default=60, validate=validate.Range(5, incidents.MAX_MINUTES),
                             metadata={"description": "the span, in minutes (a bucket each)"})


class HistoryQuerySchema(Schema):
    limit = fields.Integer(load_default=redrives.DEFAULT_HISTORY,
                           validate=validate.Range(1, redrives.MAX_HISTORY))


class RedriveOutcomeSchema(Schema):
    state = fields.String(required=True, validate=validate.OneOf(redrives.STATES))
    code = fields.String(allow_none=True, metadata={"description": "the code it was refused with again"})
    detail = fields.String(allow_none=True)
    at = fields.String(allow_none=True, metadata={"description": "when it came to that"})
    by = fields.String(allow_none=True)
    requeued_at = fields.String(allow_none=True)


class RedrivenLetterSchema(Schema):
    id = fields.String(required=True)
    message_id = fields.String(allow_none=True)
    code = fields.String(allow_none=True)
    outcome = fields.Nested(RedriveOutcomeSchema, required=True)


class RedriveSchema(Schema):
    id = fields.String(required=True)
    by = fields.String(required=True, metadata={"description": "the operator (token's principal)"})
    at = fields.String(required=True)
    reason = fields.String(allow_none=True)
    all = fields.Boolean()
    filter = fields.Dict(allow_none=True)
    count = fields.Integer(required=True, metadata={"description": "letters re-driven"})
    followed = fields.Integer(metadata={"description": "letters whose outcome is given"})
    outcomes = fields.Dict(keys=fields.String(), values=fields.Integer())
    letters = fields.List(fields.Nested(RedrivenLetterSchema))


class RedrivesSchema(Schema):
    items = fields.List(fields.Nested(RedriveSchema), required=True)


class CodesSchema(Schema):
    open = fields.Integer(required=True)
    codes = fields.Dict(keys=fields.String(), values=fields.Integer(), required=True)
    not_redrivable = fields.Integer()
    truncated = fields.Boolean(metadata={"description": f"more than {incidents.SCAN} open letters"})


@blp.route("/api/v1/ops/incidents")
@require_roles(OPERATOR)
@blp.response(200, description="incidents: read models, set-aside events, worker failures, dead letters")
def get_incidents():
    """Incidents

    Read models behind or stalled (position unmoved over the last samples), events set aside,
    the worker's messages that failed for good, and open dead letters by code; each list at
    most 20 items with its total.
    """
    return incidents.incidents(ops_runner(), InboundRecords(current_towns()))


@blp.route("/api/v1/ops/charts")
@require_roles(OPERATOR)
@blp.arguments(ChartsQuerySchema, location="query", as_kwargs=True)
@blp.response(200, description="per-minute series")
def get_charts(minutes: int):
    """Ingest, refusals and lag per minute

    Application events recorded, dead-letterings, and each read model's sampled lag, one
    bucket per minute over the last ``minutes`` (default 60, at most 1,440).
    """
    return incidents.charts(ops_runner(), current_towns(), minutes)


@blp.route("/api/v1/ops/dead-letters/codes")
@require_roles(OPERATOR)
@blp.response(200, CodesSchema, description="open dead letters by code")
def get_dead_letter_codes():
    """Open dead letters by code

    What a bulk re-drive by code would take (at most 500 per request); at most 10,000 open
    letters are counted (``truncated`` beyond).
    """
    return incidents.open_by_code(InboundRecords(current_towns()))


@blp.route("/api/v1/ops/redrives")
@require_roles(OPERATOR)
@blp.arguments(HistoryQuerySchema, location="query", as_kwargs=True)
@blp.response(200, RedrivesSchema, description="the last re-drives, newest first")
def list_redrives(limit: int):
    """Re-drive history

    Who re-drove which dead letters, when and why, and what became of each (its first 10).
    """
    return {"items": redrives.history(current_towns(), limit)}


@blp.route("/api/v1/ops/redrives/<redrive_id>")
@require_roles(OPERATOR)
@blp.response(200, RedriveSchema, description="one re-drive and what became of its letters")
@blp.alt_response(404, schema=ErrorSchema, description="not_found: no re-drive has this id")
def get_redrive(redrive_id: str):
    """One re-drive

    What became of each of its letters (at most 100): applied, duplicate, dead_lettered_again
    (with the code and detail), parked, pending (not taken yet) or not_redriven.
    """
    try:
        key = UUID(redrive_id)
    except ValueError:
        raise SchemaInvalid("not a re-drive id", {"redrive_id": "a UUID"}) from None
    try:
        return redrives.redrive(current_towns(), key)
    except redrives.UnknownRedrive as error:
        return error_response("not_found", str(error), 404)
