"""The contract's JSON shapes of what the service holds (CONTRACT.md §3): an application, one
event of its history, and a dead letter.

A dead letter (``dead_letter_view``): ``id``, ``message_id``, ``code``, ``detail``,
``first_seen``, ``attempts``, ``body`` with ``body_encoding``; more fields are welcome. A body
larger than any message the contract accepts is not stored: ``body`` and ``body_encoding`` are
null, ``body_length`` and ``body_sha256`` tell it (its copy on the dead-letter queue is whole).
``published`` says whether the broker confirmed the letter's current copy: null until it did (or
for letters from before this was kept), false when it was given up (``publish_error`` says why):
such a letter is only here, and a re-drive sends it from here. ``headers_dropped``: the copy went
without the publisher's headers.
"""

from __future__ import annotations

from datetime import datetime

from domain.applications import Application
from domain.deadline import DeadlineOutcome, materials_received_at, materials_totals
from domain.inbound import DeadLetter


def application_view(app: Application, deadline: DeadlineOutcome | None) -> dict:
    """An application: ``{"call_id", "application_ref", "status", "version", ...}``."""
    evaluation = app.evaluation or {}
    paper, electronic = materials_totals(app.receipts)
    received_at = materials_received_at(app.receipts)
    return {
        "call_id": app.call_id,
        "application_ref": app.application_ref,
        "status": app.status,
        "version": app.version,
        "town_name": app.town_name,
        "city": app.city,
        "region": app.region,
        "track": app.track,
        "applicant": app.applicant,
        "criteria": [
            {"clause": c["clause"], "outcome": c["outcome"], "detail": c["detail"]}
            for c in evaluation.get("criteria", [])
        ],
        "score": evaluation.get("score"),
        "materials": {
            "paper_copies": paper,
            "electronic_copies": electronic,
            "received_at": received_at.isoformat() if received_at else None,
        },
        "deadline": deadline.as_dict() if deadline else None,
        "updated_at": app.updated_at.isoformat(),
    }


def event_view(event: Application.Event) -> dict:
    """One event of a history: type, version, both times, actor, message id, data, hash."""
    return {
        "type": event.EVENT_TYPE,
        "version": event.originator_version,
        "occurred_at": event.occurred_at.isoformat(),
        "recorded_at": event.timestamp.isoformat(),
        "actor": event.actor,
        "message_id": event.message_id,
        "data": event.data,
        "prev_hash": event.prev_hash,
        "hash": event.hash,
    }


def dead_letter_view(letter: DeadLetter) -> dict:
    """A dead letter, in the shape the module's docstring gives."""
    return {
        "id": str(letter.id),
        "message_id": letter.message_id,
        "code": letter.code,
        "detail": letter.detail,
        "first_seen": instant(letter.first_seen),
        "attempts": letter.attempts,
        "open": letter.open,
        "user_id": letter.user_id,
        "routing_key": letter.routing_key,
        "dead_lettered_at": instant(letter.dead_lettered_at),
        "requeues": list(letter.requeues),
        "body": letter.body,
        "body_encoding": letter.body_encoding,
        "body_length": getattr(letter, "body_length", None),
        "body_sha256": getattr(letter, "body_sha256", None),
        "published": getattr(letter, "published", None),
        "publish_error": getattr(letter, "publish_error", None),
        "headers_dropped": getattr(letter, "headers_dropped", False),
    }


def instant(value: datetime | str | None) -> str | None:
    """A time as ISO 8601 text (a text as it is; None as None)."""
    if value is None:
        return None
    return value.isoformat() if isinstance(value, datetime) else str(value)
