"""What the current code must read back from the frozen rows: each aggregate's version and state."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any
from uuid import UUID

from domain.applications import Application
from domain.deadline import DeadlineCheck
from domain.inbound import DeadLetter, ParkedMessage
from domain.inbox import InboxMessage
from domain.operations import Deployment, OperatorAction
from domain.service import Towns
from tests.factories import CALL

STATE_FIELDS: dict[type, tuple[str, ...]] = {
    Application: ("call_id", "application_ref", "status", "lapsed_from", "town_name", "track",
                  "city", "region", "owner", "applicant", "indicators", "attestation",
                  "submitted_at", "recommended_at", "receipts", "evaluation", "decision",
                  "lapse", "reinstated", "closed_at", "closed_version", "last_hash",
                  "updated_at"),
    InboxMessage: ("message_id", "digest", "application_id", "principal", "conflicts"),
    DeadLetter: ("key", "message_id", "code", "detail", "body", "body_encoding", "user_id",
                 "routing_key", "first_seen", "properties", "body_length", "body_sha256",
                 "headers_too_large", "attempts", "open", "dead_lettered_at", "requeues",
                 "published", "sends", "publish_error", "headers_dropped"),
    ParkedMessage: ("key", "application_id", "message_id", "body", "body_encoding", "user_id",
                    "routing_key", "first_seen", "window_from", "code", "detail", "properties",
                    "headers_too_large", "open", "released_as"),
    DeadlineCheck: ("call_id", "cutoff", "as_of", "ran_at", "lapsed"),
    OperatorAction: ("action", "actor", "reason", "details"),
    Deployment: ("config_hash", "key_id"),
}
"""What the manifest keeps of each aggregate's state, as read back by the code that froze it."""


def jsonable(value: Any) -> Any:
    """A value of an aggregate's state as the manifest writes it (and the test compares it)."""
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, (UUID, date)):
        return str(value)
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    return value


def expectations(towns: Towns, event_rows: list[dict], snapshot_rows: list[dict]) -> dict:
    """Each aggregate's version and state as the code that froze the rows reads them back."""
    ids: dict[str, None] = {}
    for row in event_rows:
        ids.setdefault(str(row["originator_id"]), None)
    aggregates = {}
    for key in ids:
        aggregate_id = UUID(key) if len(key) in (32, 36) else key
        aggregate = towns.repository.get(UUID(str(aggregate_id)))
        kind = type(aggregate)
        state = {name: jsonable(getattr(aggregate, name, None)) for name in STATE_FIELDS[kind]}
        aggregates[str(aggregate.id)] = {
            "topic": kind.TOPIC,
            "version": aggregate.version,
            "state": state,
        }
    applications = {}
    for aggregate_id, entry in aggregates.items():
        if entry["topic"] == Application.TOPIC:
            state = entry["state"]
            applications[state["application_ref"]] = {
                "id": aggregate_id,
                "status": state["status"],
                "version": entry["version"],
                "last_hash": state["last_hash"],
            }
    topics: dict[str, int] = {}
    for row in event_rows:
        topics[row["topic"]] = topics.get(row["topic"], 0) + 1
    return {
        "call_id": CALL,
        "applications": dict(sorted(applications.items())),
        "aggregates": aggregates,
        "event_topics": dict(sorted(topics.items())),
        "snapshots": [{"originator_id": str(r["originator_id"]),
                       "originator_version": r["originator_version"],
                       "topic": r["topic"]} for r in snapshot_rows],
    }
