"""What the edge hands the application service: a checked command and, back, its outcome."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from domain.principals import Actor


@dataclass(frozen=True)
class Command:
    """One inbound event, its shape already checked (``adapters.inbound.schemas``)."""

    message_id: str
    type: str
    occurred_at: datetime
    call_id: str
    application_ref: str
    actor: Actor
    payload: dict
    digest: str = ""  # of the envelope as parsed JSON: tells a repeat from a conflict
    body: dict = field(default_factory=dict, compare=False)  # the envelope, kept on a conflict


@dataclass(frozen=True)
class Outcome:
    """The application as it stands after the command (or now, for a duplicate)."""

    call_id: str
    application_ref: str
    status: str
    version: int
    duplicate: bool = False

    def as_dict(self) -> dict:
        return {
            "application_ref": self.application_ref,
            "call_id": self.call_id,
            "status": self.status,
            "version": self.version,
            "duplicate": self.duplicate,
        }
