"""``GET /api/v1/audit/verify`` (CONTRACT.md §3): whether the whole event log's hash chains hold,
for the province and auditors only (``adapters.audit.verify``, as ``towns audit verify``)."""

from __future__ import annotations

from flask_smorest import Blueprint
from marshmallow import Schema, fields

from adapters import audit
from adapters.http.auth import require_roles
from adapters.http.context import current_runner, current_towns
from domain.principals import AUDITOR, PROVINCE

blp = Blueprint("audit", __name__, description="Verifying the event log")


class LogBreakSchema(Schema):
    chain = fields.String(required=True,
                          metadata={"description": "application, log or application+log"})
    position = fields.Integer(allow_none=True, metadata={"description": "in the log"})
    topic = fields.String(allow_none=True)
    call_id = fields.String(allow_none=True)
    application_ref = fields.String(allow_none=True)
    version = fields.Integer(allow_none=True)
    reason = fields.String(required=True)


class VerifySchema(Schema):
    ok = fields.Boolean(required=True)
    events_checked = fields.Integer(required=True,
                                    metadata={"description": "notifications of the log chain"})
    first_break = fields.Nested(LogBreakSchema, allow_none=True, required=True)
    breaks = fields.List(fields.Nested(LogBreakSchema))
    position = fields.Integer(metadata={"description": "how far the audit trail has read"})
    applications_checked = fields.Integer()
    application_events_checked = fields.Integer()
    checkpoints_checked = fields.Integer()


@blp.route("/api/v1/audit/verify")
@blp.response(200, VerifySchema, description="the verdict and the first break, if any")
@require_roles(PROVINCE, AUDITOR)
def verify():
    """Verify the hash chains

    Catches the audit trail up, then recomputes every application's chain and the chain over
    the whole log.
    """
    return audit.verify(current_towns(), current_runner())
