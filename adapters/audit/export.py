"""``towns audit export``: a call's audit trail, which an auditor can check offline.

JSON: ``{"call_id", "exported_at", "checkpoint", "chain_head", "events": [...]}``; events in log
order, each ``{"position", "application_id", "application_ref", "version", "type", "topic",
"occurred_at", "recorded_at", "actor", "message_id", "data", "prev_hash", "hash"}`` and, on the
first event of an application, ``"originator_topic"``. ``checkpoint`` is the last checkpoint of
the whole log's chain (``{"position", "chain_hash", "events", "recorded_at"}``, or null before
the first) and ``chain_head`` its last link (``{"position", "chain_hash", "events"}``): compare
them with ``towns audit verify`` or a published checkpoint. CSV: a header row, one row per event
(``actor`` and ``data`` as JSON beside ``actor_role``, ``actor_id``, ``actor_organisation``,
``actor_city``), then one final comment line ``# checkpoint position=... chain_hash=...
events=... recorded_at=...; chain_head position=... chain_hash=... events=...; call_id=...;
exported_at=...`` (``# checkpoint none; ...`` before the first).

How to check offline (``check_export`` does exactly this, from the JSON alone): take each
application's events in version order (1, 2, ... with no gap). For each, ``prev_hash`` must be
the previous event's ``hash`` (64 zeros for version 1), and ``hash`` must be SHA-256 of
``prev_hash`` (ASCII), a newline, and the canonical JSON of the content ``{"type", "topic",
"application_id", "version", "recorded_at", "occurred_at", "actor", "message_id", "data"}``
(plus ``"originator_topic"`` when the event has one), the values as exported (times are the
exact strings), canonical meaning UTF-8, keys sorted, no white space, non-ASCII unescaped:
``json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False)``.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any, TextIO
from uuid import UUID

from domain.applications import application_id
from domain.hashing import GENESIS, chain
from domain.service import Towns
from projections.audit import AuditTrail
from projections.runner import ProjectionRunner

CONTENT = ("type", "topic", "application_id", "version", "recorded_at", "occurred_at", "actor",
           "message_id", "data")
COLUMNS = ("position", "application_ref", "application_id", "version", "type", "topic",
           "occurred_at", "recorded_at", "actor_role", "actor_id", "actor_organisation",
           "actor_city", "actor", "message_id", "data", "originator_topic", "prev_hash", "hash",
           "leaf_index", "inclusion_proof")


def export(towns: Towns, runner: ProjectionRunner, call_id: str,
           on_progress: Callable[[int, int], None] | None = None) -> dict[str, Any]:
    """The trail of ``call_id`` up to the audit projection's position; raises UnknownCall.
    ``on_progress`` is told (events read, events of the call) as it goes."""
    towns.call(call_id)
    runner.setup()
    runner.catch_up(AuditTrail.name)
    names = runner.projection(AuditTrail.name).live_names()
    with runner.store.transaction() as tx:
        rows = tx.all(f"SELECT position, app_id, application_ref, version FROM "
                      f"{names['audit_events']} WHERE call_id = ? ORDER BY position", (call_id,))
        mark = tx.one(f"SELECT position, chain_hash, events, recorded_at FROM "
                      f"{names['audit_checkpoints']} ORDER BY position DESC LIMIT 1")
        head = tx.one(f"SELECT position, chain_hash, seq FROM {names['audit_chain']} "
                      "ORDER BY position DESC LIMIT 1")
    stored: dict[str, dict] = {}
    refs: dict[str, str] = {}
    events = []
    for position, app_id, ref, version in rows:
        if app_id not in stored:
            records = towns.recorder.select_events(UUID(app_id))
            stored[app_id] = {r.originator_version: r for r in records}
        record = stored[app_id].get(version)
        fields = _event(towns, record)
        data = fields.get("data")
        if version == 1 and isinstance(data, dict) and isinstance(data.get("application_ref"), str):
            refs[app_id] = data["application_ref"]  # as submitted: the trail shows NUL as U+FFFD
        events.append({"position": position, "application_id": app_id,
                       "application_ref": refs.get(app_id, ref), "version": version, **fields})
        if on_progress is not None:
            on_progress(len(events), len(rows))
    return {
        "call_id": call_id,
        "exported_at": datetime.now(timezone.utc).isoformat(),
        "checkpoint": dict(zip(("position", "chain_hash", "events", "recorded_at"), mark))
        if mark else None,
        "chain_head": dict(zip(("position", "chain_hash", "events"), head)) if head else None,
        "events": events,
    }


def _event(towns: Towns, record: Any) -> dict[str, Any]:
    if record is None:
        return {"error": "recorded by the audit trail, missing from the store"}
    try:
        event = towns.mapper.to_domain_event(record)
    except Exception as error:  # noqa: BLE001 - exported as what it is: a break
        return {"error": f"stored bytes cannot be decoded ({type(error).__name__}: {error})"}
    fields = {
        "type": event.EVENT_TYPE, "topic": type(event).TOPIC,
        "occurred_at": event.occurred_at.isoformat(), "recorded_at": event.timestamp.isoformat(),
        "actor": event.actor, "message_id": event.message_id, "data": event.data,
        "prev_hash": event.prev_hash, "hash": event.hash,
    }
    if getattr(event, "originator_topic", None) is not None:
        fields["originator_topic"] = event.originator_topic
    return fields


def check_export(export: dict) -> dict | None:
    """The first event (in log order) whose application chain does not hold, or None."""
    heads: dict[str, tuple[int, str]] = {}
    for event in export["events"]:
        app_id = event["application_id"]
        version, previous = heads.get(app_id, (0, GENESIS))
        reason = _problem(export["call_id"], event, version, previous)
        if reason:
            return {key: event.get(key) for key in ("position", "application_ref", "version")} | {
                "reason": reason}
        heads[app_id] = (event["version"], event["hash"])
    return None


def _problem(call_id: str, event: dict, version: int, previous: str) -> str | None:
    if "error" in event:
        return event["error"]
    if event["version"] != version + 1:
        return f"version {event['version']} follows version {version}"
    if event["application_id"] != str(application_id(call_id, event["application_ref"])):
        return "the application id is not that of the call and ref"
    if event["prev_hash"] != previous:
        return "link to the previous event does not match"
    content = {key: event[key] for key in CONTENT}
    if "originator_topic" in event:
        content["originator_topic"] = event["originator_topic"]
    if chain(previous, content) != event["hash"]:
        return "content does not match its hash"
    return None


def json_text(export: dict) -> str:
    """The JSON export exactly as written: an offline check asks for these very bytes."""
    return json.dumps(export, ensure_ascii=False, indent=2) + "\n"


def write_json(export: dict, out: TextIO) -> None:
    out.write(json_text(export))


def write_csv(export: dict, out: TextIO) -> None:
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(COLUMNS)
    for event in export["events"]:
        actor = event.get("actor") or {}
        record = event.get("record") or {}
        row = {**event, "actor": _json(event.get("actor")), "data": _json(event.get("data")),
               **{f"actor_{k}": actor.get(k, "") for k in ("role", "id", "organisation", "city")},
               "leaf_index": record.get("leaf_index", ""),
               "inclusion_proof": " ".join(record.get("proof") or [])}
        writer.writerow([row.get(column, "") for column in COLUMNS])
    out.write(f"# {_marks(export)}\n")


def _marks(export: dict) -> str:
    mark, head = export["checkpoint"], export["chain_head"]
    parts = ["checkpoint " + (" ".join(f"{k}={v}" for k, v in mark.items()) if mark else "none"),
             "chain_head " + (" ".join(f"{k}={v}" for k, v in head.items()) if head else "none"),
             f"call_id={export['call_id']}", f"exported_at={export['exported_at']}"]
    head = export.get("tree_head")
    if head:
        parts.append("tree_head " + " ".join(f"{k}={v}" for k, v in head.items()))
    return "; ".join(parts)


def _json(value: Any) -> str:
    return "" if value is None else json.dumps(value, ensure_ascii=False, sort_keys=True)
