"""The audit trail: every application event as a row, and a hash chain over the whole log.

``audit_events`` keeps one row per application event (who, when, which message, its hash and
link); ``audit_applications`` maps each application id to its call and ref, filled from the
submission, so that every later event can name them. ``audit_chain`` links every notification
of the log, of every topic (applications, inbox markers, dead letters, deadline checks...), in
notification order::

    chain_hash = sha256(previous chain_hash + "\\n" + position + "\\n" + topic + "\\n"
                        + sha256(stored state bytes))         starting from GENESIS

and ``audit_checkpoints`` records the chain every ``CHECKPOINT_EVERY`` notifications. Rows are
derived from the log alone (times are the events' own), so a rebuild gives the same rows.
``adapters.audit.verify`` recomputes both chains from the raw log and compares.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from typing import Any

from domain.applications import EVENT_CLASSES, Application
from domain.hashing import GENESIS
from projections.base import Projection, Recorded
from projections.store import Tx

CHECKPOINT_EVERY = 1000
CHUNK = 500


def state_digest(state: bytes) -> str:
    """The SHA-256 of a notification's stored bytes, as the chain records it."""
    return hashlib.sha256(state).hexdigest()


def log_link(previous: str, position: int, topic: str, state_sha256: str) -> str:
    """The chain hash of one notification, chained after ``previous``."""
    text = f"{previous}\n{position}\n{topic}\n{state_sha256}"
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def recorded_at(recorded: Recorded) -> str:
    """The record time of a notification's event, exactly as stored."""
    stamp = json.loads(recorded.state).get("timestamp")
    return stamp["_data_"] if isinstance(stamp, dict) else ""


class AuditTrail(Projection):
    name = "audit"
    topics = ()  # every notification of the log
    tables = {
        "audit_events": """CREATE TABLE IF NOT EXISTS {name} (
            position BIGINT PRIMARY KEY, app_id TEXT NOT NULL, call_id TEXT NOT NULL,
            application_ref TEXT NOT NULL, version INTEGER NOT NULL, type TEXT NOT NULL,
            actor TEXT NOT NULL, message_id TEXT NOT NULL, occurred_at TEXT NOT NULL,
            recorded_at TEXT NOT NULL, hash TEXT NOT NULL, prev_hash TEXT NOT NULL)""",
        "audit_applications": """CREATE TABLE IF NOT EXISTS {name} (
            app_id TEXT PRIMARY KEY, call_id TEXT NOT NULL, application_ref TEXT NOT NULL,
            position BIGINT NOT NULL)""",
        "audit_chain": """CREATE TABLE IF NOT EXISTS {name} (
            position BIGINT PRIMARY KEY, seq BIGINT NOT NULL, topic TEXT NOT NULL,
            state_sha256 TEXT NOT NULL, chain_hash TEXT NOT NULL)""",
        "audit_checkpoints": """CREATE TABLE IF NOT EXISTS {name} (
            position BIGINT PRIMARY KEY, chain_hash TEXT NOT NULL, events BIGINT NOT NULL,
            recorded_at TEXT NOT NULL)""",
    }
    indexes = {"audit_events": ["call_id, position", "app_id, version"]}

    decodes = False  # the rows come straight from the stored JSON

    def apply(self, tx: Tx, names: dict[str, str], batch: Sequence[Recorded]) -> None:
        head = tx.one(f"SELECT seq, chain_hash FROM {names['audit_chain']} "
                      "ORDER BY position DESC LIMIT 1")
        seq, previous = head if head else (0, GENESIS)
        views = [_view(recorded) for recorded in batch]
        apps = self._applications(tx, names["audit_applications"], views)
        new_apps, events, links, checkpoints = [], [], [], []
        for recorded, view in zip(batch, views):
            if view is not None:
                app_id = view.app_id
                if view.type == SUBMITTED:
                    apps[app_id] = (view.data["call_id"], view.data["application_ref"])
                    new_apps.append((app_id, *apps[app_id], recorded.position))
                call_id, ref = apps.get(app_id, ("", ""))  # no submission: verify names it
                events.append(view.row(recorded.position, call_id, ref))
            sha = state_digest(recorded.state)
            seq, previous = seq + 1, log_link(previous, recorded.position, recorded.topic, sha)
            links.append((recorded.position, seq, recorded.topic, sha, previous))
            if seq % CHECKPOINT_EVERY == 0:
                checkpoints.append((recorded.position, previous, seq, recorded_at(recorded)))
        tx.insert_many(names["audit_applications"],
                       ("app_id", "call_id", "application_ref", "position"), new_apps)
        tx.insert_many(names["audit_events"],
                       ("position", "app_id", "call_id", "application_ref", "version", "type",
                        "actor", "message_id", "occurred_at", "recorded_at", "hash", "prev_hash"),
                       events)
        tx.insert_many(names["audit_chain"],
                       ("position", "seq", "topic", "state_sha256", "chain_hash"), links)
        tx.insert_many(names["audit_checkpoints"],
                       ("position", "chain_hash", "events", "recorded_at"), checkpoints)

    def _applications(self, tx: Tx, table: str, views: Sequence[Any]) -> dict[str, tuple]:
        """Call and ref of the batch's applications submitted in earlier batches."""
        ids = sorted({v.app_id for v in views if v is not None and v.type != SUBMITTED})
        apps: dict[str, tuple] = {}
        for start in range(0, len(ids), CHUNK):
            chunk = ids[start : start + CHUNK]
            marks = ", ".join("?" for _ in chunk)
            for app_id, call_id, ref in tx.all(
                f"SELECT app_id, call_id, application_ref FROM {table} WHERE app_id IN ({marks})",
                chunk,
            ):
                apps[app_id] = (call_id, ref)
        return apps


SUBMITTED = Application.Submitted.EVENT_TYPE
TYPES = {cls.TOPIC: cls.EVENT_TYPE for cls in EVENT_CLASSES.values()}


class _EventView:
    """What an application event's row needs, read from its stored JSON (the transcoder writes
    datetimes as ``{"_type_": "datetime_iso", "_data_": isoformat}``)."""

    __slots__ = ("app_id", "version", "type", "doc")

    def __init__(self, recorded: Recorded) -> None:
        self.app_id = str(recorded.originator_id)
        self.version = recorded.originator_version
        self.type = TYPES[recorded.topic]
        self.doc = json.loads(recorded.state)

    @property
    def data(self) -> dict:
        return self.doc["data"]

    def row(self, position: int, call_id: str, ref: str) -> tuple:
        doc = self.doc
        actor = json.dumps(doc["actor"], sort_keys=True, ensure_ascii=False)
        return (position, self.app_id, call_id, ref, self.version, self.type, actor,
                doc["message_id"], doc["occurred_at"]["_data_"], doc["timestamp"]["_data_"],
                doc["hash"], doc["prev_hash"])


def _view(recorded: Recorded) -> _EventView | None:
    return _EventView(recorded) if recorded.topic in TYPES else None
