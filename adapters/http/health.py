"""``GET /healthz``: whether the service can read its store. Needs no token."""

from __future__ import annotations

import logging

from flask import jsonify
from flask_smorest import Blueprint
from marshmallow import Schema, fields

from adapters.http.context import current_towns
from adapters.http.errors import ERROR_HEADER

log = logging.getLogger(__name__)

blp = Blueprint("health", __name__, description="Liveness and readiness")


class HealthSchema(Schema):
    ok = fields.Boolean(required=True)
    reason = fields.String(metadata={"description": "why the service is not healthy"})


@blp.route("/healthz")
@blp.response(200, HealthSchema, description="the store can be read")
@blp.alt_response(503, schema=HealthSchema, description="the store cannot be read")
def healthz():
    """Health check

    Reads the event store's last notification id; answers 503 with a reason when that fails.
    """
    try:
        current_towns().recorder.max_notification_id()
    except Exception as error:  # noqa: BLE001 - any failure to read makes the service unhealthy
        log.warning("health check: the event store cannot be read", exc_info=True)
        reason = f"the event store cannot be read ({type(error).__name__})"
        response = jsonify(
            {
                "ok": False,
                "reason": reason,
                "error": {"code": "unavailable", "message": reason, "details": {}},
            }
        )
        response.status_code = 503
        response.headers[ERROR_HEADER] = "unavailable"
        return response
    return {"ok": True}
