"""Every error answer in the contract's shape: ``{"error": {"code", "message", "details"}}``,
with the same code in the ``x-towns-error`` header (CONTRACT.md, error codes).

A view refuses by raising a ``DomainError`` (its code's status comes from ``HTTP_STATUS``); Flask's
own errors (404, 405, 500, …) and flask-smorest's argument errors (422) are rendered the same way.
A 500 names no exception and carries no traceback; Flask logs it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask import Flask, Response, jsonify
from marshmallow import Schema, fields
from werkzeug.exceptions import HTTPException

from adapters.amqp.topology import AmqpUrlError
from adapters.http.auth import challenge
from adapters.ingest import HTTP_STATUS, error_body
from domain.errors import DomainError

ERROR_HEADER = "x-towns-error"
HTTP_CODES = {404: "not_found", 405: "method_not_allowed", 500: "internal_error"}
"""Codes of Flask's own errors; others are the status's name in snake case."""


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
    body = {"error": {"code": code, "message": message, "details": dict(details or {})}}
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
