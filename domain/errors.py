"""Domain errors, each carrying a code of the outside contract (CONTRACT.md, error codes).

Rules raise these where they live; the edges (HTTP, the RabbitMQ consumer, the CLI) turn the code
into a status, a dead-letter header or an exit line.

What an error carries back is bounded here, once for every channel: its message is at most
``MAX_MESSAGE_CHARS`` characters (``x-towns-detail`` too, which is the message), and its details
at most ``MAX_DETAIL_ITEMS`` entries of at most ``MAX_DETAIL_CHARS`` characters each. Messages and
details often quote what the sender sent (an unknown type, a call id, an actor), which only the
message's own 256 KiB bound would otherwise limit.
"""

from __future__ import annotations

from typing import Any

MAX_MESSAGE_CHARS = 1024
MAX_DETAIL_CHARS = 256
MAX_DETAIL_ITEMS = 100
ELLIPSIS = "…"
"""Ends a text that was cut; a mapping or list that was cut ends with an entry saying so."""


def bounded_text(text: str, limit: int = MAX_MESSAGE_CHARS) -> str:
    """``text`` when it fits in ``limit`` characters; else its start, ending with ``ELLIPSIS``."""
    return text if len(text) <= limit else text[: limit - len(ELLIPSIS)] + ELLIPSIS


def bounded_details(value: Any, depth: int = 0) -> Any:
    """A JSON-like value with every text cut to ``MAX_DETAIL_CHARS``, every mapping and list to
    ``MAX_DETAIL_ITEMS`` entries (the last one saying how many more there were) and nesting to a
    few levels; anything else (numbers, booleans, null, dates) as it is."""
    if isinstance(value, str):
        return bounded_text(value, MAX_DETAIL_CHARS)
    if value is None or isinstance(value, (bool, int, float)):
        return value
    if depth >= 4:
        return bounded_text(repr(value), MAX_DETAIL_CHARS)
    if isinstance(value, dict):
        items = list(value.items())
        out = {bounded_text(str(k), MAX_DETAIL_CHARS): bounded_details(v, depth + 1)
               for k, v in items[:MAX_DETAIL_ITEMS]}
        if len(items) > MAX_DETAIL_ITEMS:
            out[ELLIPSIS] = f"{len(items) - MAX_DETAIL_ITEMS} more"
        return out
    if isinstance(value, (list, tuple)):
        out_list = [bounded_details(v, depth + 1) for v in value[:MAX_DETAIL_ITEMS]]
        if len(value) > MAX_DETAIL_ITEMS:
            out_list.append(f"{ELLIPSIS} {len(value) - MAX_DETAIL_ITEMS} more")
        return out_list
    return value  # a date, say: the edge's encoder knows it


class DomainError(Exception):
    """A refusal with a contract code, a one-sentence message and optional details, both
    bounded (see the module's docstring)."""

    code = "domain_error"

    def __init__(self, message: str, details: dict[str, Any] | None = None) -> None:
        message = bounded_text(message)
        super().__init__(message)
        self.message = message
        self.details = bounded_details(dict(details or {}))

    def as_dict(self) -> dict[str, Any]:
        return {"code": self.code, "message": self.message, "details": self.details}


class Unauthenticated(DomainError):
    code = "unauthenticated"


class Malformed(DomainError):
    code = "malformed"


class SchemaInvalid(DomainError):
    code = "schema_invalid"


class UnknownType(DomainError):
    code = "unknown_type"


class UnknownCall(DomainError):
    code = "unknown_call"


class Forbidden(DomainError):
    code = "forbidden"


class UnknownApplication(DomainError):
    code = "unknown_application"


class DeadlinePassed(DomainError):
    code = "deadline_passed"


class InvalidTransition(DomainError):
    code = "invalid_transition"


class PreconditionFailed(DomainError):
    code = "precondition_failed"


class IdempotencyConflict(DomainError):
    code = "idempotency_conflict"


ERROR_CLASSES: dict[str, type[DomainError]] = {
    cls.code: cls
    for cls in (
        Unauthenticated,
        Malformed,
        SchemaInvalid,
        UnknownType,
        UnknownCall,
        Forbidden,
        UnknownApplication,
        DeadlinePassed,
        InvalidTransition,
        PreconditionFailed,
        IdempotencyConflict,
    )
}
"""Every contract error code, with its class."""
