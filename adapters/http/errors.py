"""Every error answer in the contract's shape: ``{"error": {"code", "message", "details"}}``,
with the same code in the ``x-towns-error`` header (CONTRACT.md, error codes).

A store that cannot be reached now (``STORE_UNREACHABLE``) is 503 ``unavailable``, never a 500.

A view refuses by raising a ``DomainError`` (its code's status comes from ``HTTP_STATUS``); Flask's
own errors (404, 405, 500, …) and flask-smorest's argument errors (422) are rendered the same way.
A body over ``MAX_CONTENT_LENGTH`` (werkzeug's 413) is the contract's ``malformed`` (400). A 500
names no exception and carries no traceback; Flask logs it. Messages and details are bounded as
``domain.errors`` bounds a ``DomainError``'s.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping
from typing import Any

import psycopg
from eventsourcing.persistence import InterfaceError, OperationalError
from flask import Flask, Response, current_app, jsonify, request
from marshmallow import Schema, fields
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge

from adapters.amqp.topology import AmqpUrlError
from adapters.http.auth import challenge
from adapters.inbound.ingest import MAX_MESSAGE_BYTES, error_body
from domain.errors import DomainError, Malformed, bounded_details, bounded_text

ERROR_HEADER = "x-towns-error"
HTTP_CODES = {404: "not_found", 405: "method_not_allowed", 500: "internal_error"}
"""Codes of Flask's own errors; others are the status's name in snake case."""

HTTP_STATUS: dict[str, int] = {
    "malformed": 400,
    "schema_invalid": 422,
    "unknown_type": 422,
    "unknown_call": 422,
    "unknown_application": 404,
    "invalid_transition": 409,
    "precondition_failed": 409,
    "idempotency_conflict": 409,
    "deadline_passed": 409,
    "unauthenticated": 401,
    "forbidden": 403,
}
"""The HTTP status of every contract error code (CONTRACT.md, error codes)."""


class ErrorDetailSchema(Schema):
    code = fields.String(required=True, metadata={"description": "the contract's error code"})
    message = fields.String(required=True, metadata={"description": "one sentence"})
    details = fields.Dict(
        required=True, metadata={"description": "e.g. field paths → messages for schema_invalid"}
    )


class ErrorSchema(Schema):
    """The contract's JSON error."""

    error = fields.Nested(ErrorDetailSchema, required=True)


def error_response(
    code: str,
    message: str,
    status: int,
    details: Mapping[str, Any] | None = None,
    headers: Mapping[str, str] | None = None,
) -> Response:
    """A JSON error answer in the contract's shape, with ``x-towns-error``."""
    body = {"error": {"code": code, "message": bounded_text(message),
                      "details": bounded_details(dict(details or {}))}}
    response = jsonify(body)
    response.status_code = status
    response.headers[ERROR_HEADER] = code
    if status == 401:
        response.headers["WWW-Authenticate"] = challenge()
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


def domain_error_response(error: DomainError) -> Response:
    """A refusal of the contract, with the status ``HTTP_STATUS`` gives its code."""
    body = error_body(error)["error"]
    status = HTTP_STATUS.get(error.code, 400)
    return error_response(body["code"], body["message"], status, body["details"])


def http_error_response(error: HTTPException) -> Response:
    """Flask's and werkzeug's errors, and flask-smorest's ``abort``, as contract JSON."""
    status = error.code or 500
    if isinstance(error, RequestEntityTooLarge):
        return domain_error_response(Malformed(
            f"the request body is over the limit of {MAX_MESSAGE_BYTES} bytes",
            {"size": request.content_length, "limit": MAX_MESSAGE_BYTES},
        ))
    if status >= 500:
        return error_response(
            HTTP_CODES.get(status, "internal_error"),
            "the service met an unexpected error; it has been logged",
            status,
        )
    data = getattr(error, "data", None) or {}
    messages = data.get("errors") or data.get("messages")
    if status == 422 and messages:
        return error_response(
            "schema_invalid", data.get("message", "invalid arguments"), 422, _flatten(messages)
        )
    code = HTTP_CODES.get(status) or error.name.lower().replace(" ", "_")
    headers = {k: v for k, v in error.get_headers() if k.lower() != "content-type"}
    headers.update(data.get("headers") or {})
    return error_response(code, data.get("message") or error.description or error.name, status,
                          headers=headers)


def register_error_handlers(app: Flask) -> None:
    """Renders every error of ``app`` as contract JSON."""
    app.register_error_handler(DomainError, domain_error_response)
    app.register_error_handler(HTTPException, http_error_response)
    app.register_error_handler(AmqpUrlError, lambda error: error_response("unavailable", str(error), 503))
    for unreachable in STORE_UNREACHABLE:
        app.register_error_handler(unreachable, store_error_response)


STORE_UNREACHABLE = (psycopg.OperationalError, psycopg.InterfaceError, OperationalError,
                     InterfaceError, sqlite3.OperationalError)
"""What the stores raise when they cannot be used now: psycopg's (the views' store, and the pool,
whose timeout is one), eventsourcing's translations of them (the event store, after its own
retries), SQLite's (a database locked too long, a file that cannot be opened)."""


def store_error_response(error: Exception) -> Response:
    """503 ``unavailable`` for a store that cannot be reached now. What the same classes say
    of the service's own doing is a 500: SQLite's ``OperationalError`` for a missing table,
    PostgreSQL's "program limit exceeded" (a value too large for an index)."""
    limit = psycopg.errors.ProgramLimitExceeded
    if isinstance(error, limit) or isinstance(error.__cause__, limit) or (
            isinstance(error, sqlite3.OperationalError) and not any(
                text in str(error) for text in ("locked", "unable to open", "disk I/O"))):
        current_app.logger.error("unexpected store error", exc_info=error)
        return error_response("internal_error",
                              "the service met an unexpected error; it has been logged", 500)
    current_app.logger.warning("the store cannot be used now: %s", " ".join(str(error).split()))
    return error_response("unavailable", "the store cannot be reached now; try again", 503)


def _flatten(messages: Any, path: str = "") -> dict[str, str]:
    """webargs' nested messages (``{"query": {"limit": ["…"]}}``) as ``{"limit": "…"}``."""
    if isinstance(messages, Mapping):
        flat: dict[str, str] = {}
        for key, value in messages.items():
            if not path and key in ("query", "json", "path", "headers", "form", "view_args"):
                child = ""
            else:
                child = f"{path}.{key}" if path else str(key)
            flat.update(_flatten(value, child))
        return flat
    if isinstance(messages, (list, tuple)):
        if all(isinstance(m, str) for m in messages):
            return {path or "_": "; ".join(messages)}
        flat = {}
        for item in messages:
            flat.update(_flatten(item, path))
        return flat
    return {path or "_": str(messages)}
