"""``POST /api/v1/events``: the ingest path over HTTP (CONTRACT.md §2 "Over HTTP").

The view hands the exact request bytes and the bearer token's principal to
``adapters.inbound.ingest.ingest``, which refuses in the contract's order; Flask never parses the body.
A body over the contract's 256 KiB is never read whole: werkzeug refuses a ``Content-Length``
over Flask's ``MAX_CONTENT_LENGTH`` (``MAX_REQUEST_BYTES``) before reading, and stops reading a
chunked body there. It answers ``malformed`` (after ``unauthenticated``, as the ingest path
would), never werkzeug's 413.
"""

from __future__ import annotations

from flask import request
from flask_smorest import Blueprint
from marshmallow import Schema, fields
from werkzeug.exceptions import RequestEntityTooLarge

from adapters.http.auth import BEARER_SECURITY, principal_from_request
from adapters.http.context import current_towns
from adapters.http.errors import ERROR_HEADER, ErrorSchema
from adapters.inbound.ingest import MAX_MESSAGE_BYTES, ingest
from adapters.inbound.schemas import EnvelopeSchema
from domain.errors import Malformed, Unauthenticated
from domain.principals import Principal

MAX_REQUEST_BYTES = MAX_MESSAGE_BYTES + 1
"""Flask's ``MAX_CONTENT_LENGTH``: one byte over the contract's 256 KiB, because werkzeug stops
reading a chunked body at the limit without saying whether more was coming: a body that
reaches it is over the contract's limit."""

blp = Blueprint("events", __name__, description="Inbound events: the ingest path over HTTP")


class OutcomeSchema(Schema):
    """The application as it stands after the event (or now, for a duplicate)."""

    application_ref = fields.String(required=True)
    call_id = fields.String(required=True)
    status = fields.String(required=True, metadata={"description": "the application's status"})
    version = fields.Integer(required=True, metadata={"description": "events recorded so far"})
    duplicate = fields.Boolean(
        required=True, metadata={"description": "true when the message_id was already applied"}
    )


_ERROR_HEADERS = {ERROR_HEADER: {"description": "the error code", "schema": {"type": "string"}}}
_REFUSALS = {
    400: "malformed: not UTF-8 JSON, not an object, or over 256 KiB",
    401: "unauthenticated: no or unknown bearer token",
    403: "forbidden: the principal may not act as this actor or on this application",
    404: "unknown_application: the reference has never been submitted",
    409: "invalid_transition, precondition_failed, idempotency_conflict or deadline_passed",
    422: "schema_invalid (details map field paths to messages), unknown_type or unknown_call",
}


def _document_refusals(view):
    for status, description in _REFUSALS.items():
        view = blp.alt_response(
            status, schema=ErrorSchema, description=description, headers=_ERROR_HEADERS
        )(view)
    return view


@blp.route("/api/v1/events", methods=["POST"])
@blp.doc(
    security=BEARER_SECURITY,
    requestBody={
        "required": True,
        "description": "one inbound event envelope (UTF-8 JSON, at most 256 KiB)",
        "content": {"application/json": {"schema": EnvelopeSchema}},
    },
)
@blp.response(200, OutcomeSchema, description="applied, or a duplicate of a message applied")
@_document_refusals
def post_event():
    """Apply one inbound event

    The same envelope as over RabbitMQ, sent as the principal of the bearer token.
    """
    principal = principal_from_request()
    return ingest(current_towns(), request_body(principal), principal).as_dict()


def request_body(principal: Principal | None) -> bytes:
    """The raw request body, of at most 256 KiB; a larger one is refused in the ingest path's
    order, having been read no further than ``MAX_REQUEST_BYTES``."""
    try:
        body = request.get_data(cache=False)
    except RequestEntityTooLarge:
        body = None
    if body is not None and len(body) <= MAX_MESSAGE_BYTES:
        return body
    if principal is None:
        raise Unauthenticated("no valid credentials")
    size = request.content_length  # None: chunked, and only read up to the limit
    raise Malformed(
        f"the message is {f'{size} bytes, ' if size is not None else ''}over the limit of"
        f" {MAX_MESSAGE_BYTES} bytes",
        {"size": size, "limit": MAX_MESSAGE_BYTES},
    )
