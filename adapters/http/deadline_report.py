"""``GET /api/v1/calls/{call_id}/deadline-report`` (CONTRACT.md §3): per application of the call,
its deadline outcome and the evidence, from the deadline report read model as it stands; a city
sees its jurisdiction, an applicant its own applications."""

from __future__ import annotations

from flask_smorest import Blueprint
from marshmallow import Schema, fields, validate

from projections import queries
from adapters.http.auth import current_principal, require_roles
from adapters.http.context import current_runner, current_towns
from adapters.http.errors import ErrorSchema
from adapters.http.reach import READERS, Reach
from adapters.http.read_schemas import OUTCOMES

blp = Blueprint("deadlines", __name__, description="The deadline report of a call")


class EvidenceSchema(Schema):
    recommended_at = fields.String(allow_none=True, metadata={"format": "date-time"})
    receipts = fields.List(fields.Dict(), metadata={"description": "materials received, in order"})
    lapse = fields.Dict(allow_none=True, metadata={"description": "what the check found missing"})
    reinstated = fields.Dict(allow_none=True,
                             metadata={"description": "the timely evidence that reinstated it"})


class ReportRowSchema(Schema):
    application_ref = fields.String(required=True)
    city = fields.String(required=True)
    status = fields.String(required=True)
    outcome = fields.String(required=True, validate=validate.OneOf(OUTCOMES))
    materials_received_at = fields.String(allow_none=True, required=True,
                                          metadata={"format": "date-time"})
    detail = fields.String(required=True)
    evidence = fields.Nested(EvidenceSchema, required=True)


class DeadlineReportSchema(Schema):
    call_id = fields.String(required=True)
    cutoff = fields.String(required=True, metadata={"format": "date-time"})
    check_due_at = fields.String(required=True, metadata={"format": "date-time",
                                                          "description": "cutoff + grace"})
    checked = fields.Boolean(required=True, metadata={"description": "whether the check has run"})
    items = fields.List(fields.Nested(ReportRowSchema), required=True)


@blp.route("/api/v1/calls/<call_id>/deadline-report")
@blp.response(200, DeadlineReportSchema, description="a row per application, by reference")
@blp.alt_response(422, schema=ErrorSchema, description="unknown_call")
@require_roles(*READERS)
def deadline_report(call_id: str):
    """The deadline report of a call

    Per application: pending, on_time, lapsed, reinstated or not_applicable, with when its
    materials were complete and the evidence (what the check found missing, what reinstated it).
    """
    towns = current_towns()
    call = towns.call(call_id)
    reach = Reach(current_principal())
    keep = (lambda ids: reach.keep(towns, ids)) if reach.owner else None
    report = queries.deadline_report(current_runner().store, call.id, reach.city, keep)
    return {"call_id": call.id, "cutoff": call.cutoff.isoformat(),
            "check_due_at": call.check_due_at.isoformat(), **report}
