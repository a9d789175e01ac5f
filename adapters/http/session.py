"""``GET /api/v1/session``: who the token names and which panels of the page its role may use.

The page shows only those panels (and their links); the endpoints behind each still check the
role themselves, so this only spares a role the panels it would be refused.
"""

from __future__ import annotations

from flask_smorest import Blueprint
from marshmallow import Schema, fields

from adapters.http.auth import current_principal, require_roles
from domain.principals import APPLICANT, AUDITOR, CITY, OPERATOR, PROVINCE

blp = Blueprint("session", __name__, description="The caller and the page's panels for its role")

READER_PANELS = ("pipeline", "applications", "timeline", "deadlines")
PANELS = {
    PROVINCE: ("audit", *READER_PANELS),
    AUDITOR: ("audit", *READER_PANELS),
    CITY: READER_PANELS,
    APPLICANT: READER_PANELS,
    OPERATOR: ("incidents", "charts", "queues", "redrives"),
}
"""The page's panels each role may use, as the endpoints behind them allow (CONTRACT.md §3)."""


class SessionSchema(Schema):
    principal = fields.String(required=True)
    role = fields.String(required=True)
    organisation = fields.String(allow_none=True)
    city = fields.String(allow_none=True)
    panels = fields.List(fields.String(), required=True,
                         metadata={"description": "the page's panels the role may use"})


@blp.route("/api/v1/session")
@require_roles()
@blp.response(200, SessionSchema, description="the caller")
def get_session():
    """The caller

    The principal the token names, its role, and the panels of the page that role may use.
    """
    principal = current_principal()
    return {"principal": principal.name, "role": principal.role,
            "organisation": principal.organisation, "city": principal.city,
            "panels": list(PANELS.get(principal.role, ()))}
