"""Domain errors, each carrying a code of the outside contract (CONTRACT.md, error codes).

Rules raise these where they live; the edges (HTTP, the RabbitMQ consumer, the CLI) turn the code
into a status, a dead-letter header or an exit line.
"""

from __future__ import annotations

from typing import Any


class DomainError(Exception):
    """A refusal with a contract code, a one-sentence message and optional details."""

    code = "domain_error"

    def __init__(self, message: str, details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = dict(details or {})

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
