"""The contract's JSON shapes of what the service holds (CONTRACT.md §3)."""

from __future__ import annotations

from domain.applications import Application
from domain.deadline import DeadlineOutcome, materials_received_at, materials_totals


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
