"""The per-application read models: application summaries (the source of the applications
list) and the deadline report. Both fold the same events the same way (``fold``), through the
domain's own status rule and deadline outcome, and differ only in the columns they keep."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any, ClassVar
from uuid import UUID

from domain import deadline as dl
from domain import lifecycle as lc
from domain.applications import Application
from domain.deadline import DeadlineCheck
from domain.jurisdictions import region_of
from projections.base import Projection, Recorded
from projections.store import Tx

TOPICS = tuple(cls.TOPIC for cls in (
    Application.Submitted, Application.Resubmitted, Application.Withdrawn,
    Application.Returned, Application.CityVerified, Application.Recommended,
    Application.Rejected, Application.MaterialsReceived, Application.Evaluated,
    Application.Approved, Application.Lapsed, Application.Reinstated, DeadlineCheck.Ran,
))


def criteria_outcome(criteria: list[dict]) -> str | None:
    """One word for an evaluation: fail if any clause fails, warning if any is unwaived, else pass."""
    if not criteria:
        return None
    outcomes = {c["outcome"] for c in criteria}
    return "fail" if "fail" in outcomes else "warning" if "warning" in outcomes else "pass"


class Stored:
    """An application event as the folds need it, with times as the exact ISO strings stored:
    read from the stored JSON when the runner did not decode (the cheaper way), else from the
    decoded event."""

    __slots__ = ("app_id", "type", "version", "data", "occurred_at", "timestamp", "extra",
                 "position")

    def __init__(self, recorded: Recorded) -> None:
        event = recorded.event
        self.position = recorded.position
        self.app_id = str(recorded.originator_id or event.originator_id)
        if event is None:
            doc = json.loads(recorded.state)
            self.type = TYPES.get(recorded.topic)
            self.version = recorded.originator_version
            self.data = doc.get("data")
            self.occurred_at = doc.get("occurred_at", {}).get("_data_")
            self.timestamp = doc["timestamp"]["_data_"]
            self.extra = doc
        else:
            self.type = getattr(event, "EVENT_TYPE", None)
            self.version = event.originator_version
            self.data = getattr(event, "data", None)
            occurred = getattr(event, "occurred_at", None)
            self.occurred_at = occurred.isoformat() if occurred else None
            self.timestamp = event.timestamp.isoformat()
            self.extra = {"call_id": getattr(event, "call_id", None)}


TYPES = {cls.TOPIC: cls.EVENT_TYPE for cls in (
    Application.Submitted, Application.Resubmitted, Application.Withdrawn,
    Application.Returned, Application.CityVerified, Application.Recommended,
    Application.Rejected, Application.MaterialsReceived, Application.Evaluated,
    Application.Approved, Application.Lapsed, Application.Reinstated,
)}


def fold(state: dict | None, recorded: Recorded, checked: set[str]) -> dict:
    """The state an application's row holds after one more of its events (JSON-safe)."""
    event = recorded if isinstance(recorded, Stored) else Stored(recorded)
    position = getattr(recorded, "position", None)
    if state is None:
        d = event.data
        state = {
            "app_id": event.app_id, "call_id": d["call_id"],
            "application_ref": d["application_ref"], "town_name": d["town_name"],
            "city": d["city"], "region": region_of(d["city"]), "track": d["track"],
            "status": None, "lapsed_from": None, "receipts": [], "recommended_at": None,
            "criteria_outcome": None, "score": None, "lapse": None, "reinstated": None,
            "closed_before_check": False,
        }
    before = None if state["status"] is None else lc.Standing(state["status"], state["lapsed_from"])
    standing = lc.standing_after(before, event.type, event.data)
    state["status"], state["lapsed_from"] = standing.status, standing.lapsed_from
    kind = event.type
    if kind == lc.RECOMMEND:
        state["recommended_at"] = event.occurred_at
    elif kind == lc.RECEIVE_MATERIALS:
        state["receipts"].append({**event.data, "occurred_at": event.occurred_at})
    elif kind == lc.EVALUATE:
        state["criteria_outcome"] = criteria_outcome(event.data["criteria"])
        state["score"] = event.data["score"]
    elif kind == lc.LAPSE:
        state["lapse"] = event.data
    elif kind == lc.REINSTATE:
        state["reinstated"] = event.data
    elif kind in (lc.WITHDRAW, lc.REJECT):
        state["closed_before_check"] = state["call_id"] not in checked
    state.update(
        version=event.version,
        updated_at=event.occurred_at,
        recorded_at=event.timestamp,
        position=position,
    )
    return state


def with_outcome(state: dict, checked: bool) -> dict:
    result = dl.outcome(state["status"], state["lapse"], state["reinstated"],
                        state["closed_before_check"], checked)
    state["deadline_outcome"], state["deadline_detail"] = result.outcome, result.detail
    received = dl.materials_received_at(_receipts(state))
    state["materials_received_at"] = received.isoformat() if received else None
    return state


def _receipts(state: dict) -> list[dict]:
    return [{**r, "occurred_at": datetime.fromisoformat(r["occurred_at"])} for r in state["receipts"]]


class ApplicationRows(Projection):
    """A table of one row per application: the columns below, and the folded state as JSON."""

    topics = TOPICS
    decodes = False  # the folds read the stored JSON
    columns: ClassVar[tuple[str, ...]]
    row_table: ClassVar[str]

    def apply(self, tx: Tx, names: dict[str, str], batch: Sequence[Recorded]) -> None:
        table, checks = names[self.row_table], names["checks"]
        checked = {row[0] for row in tx.all(f"SELECT call_id FROM {checks}")}
        events = [Stored(r) for r in batch]
        ids = sorted({e.app_id for r, e in zip(batch, events) if _is_application(r)})
        states = self._load(tx, table, ids)
        for recorded, event in zip(batch, events):
            if not _is_application(recorded):
                call_id = event.extra["call_id"]
                if call_id not in checked:
                    checked.add(call_id)
                    tx.execute(f"INSERT INTO {checks} (call_id, position) VALUES (?, ?)",
                               (call_id, recorded.position))
                    states.update(self._load_call(tx, table, call_id, exclude=states))
                    for state in states.values():
                        if state["call_id"] == call_id:
                            with_outcome(state, True)
                continue
            event.position = recorded.position
            states[event.app_id] = fold(states.get(event.app_id), event, checked)
        for state in states.values():  # once per application and batch, not per event
            with_outcome(state, state["call_id"] in checked)
        self._save(tx, table, states.values())

    def _load(self, tx: Tx, table: str, ids: list[str]) -> dict[str, dict]:
        states: dict[str, dict] = {}
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            marks = ", ".join("?" for _ in chunk)
            for (state,) in tx.all(f"SELECT state FROM {table} WHERE app_id IN ({marks})", chunk):
                loaded = json.loads(state)
                states[loaded["app_id"]] = loaded
        return states

    def _load_call(self, tx: Tx, table: str, call_id: str, exclude: dict) -> dict[str, dict]:
        rows = tx.all(f"SELECT app_id, state FROM {table} WHERE call_id = ?", (call_id,))
        return {app_id: json.loads(state) for app_id, state in rows if app_id not in exclude}

    def _save(self, tx: Tx, table: str, states: Any) -> None:
        columns = (*self.columns, "state")
        rows = [(*(_cell(s, c) for c in self.columns), json.dumps(s)) for s in states]
        tx.upsert_many(table, columns, "app_id", rows)


def _cell(state: dict, column: str) -> Any:
    if column == "detail":
        return state["deadline_detail"]
    return state[column]


def _is_application(recorded: Recorded) -> bool:
    return recorded.topic != DeadlineCheck.Ran.TOPIC


_CHECKS = """CREATE TABLE IF NOT EXISTS {name} (
    call_id TEXT PRIMARY KEY, position BIGINT NOT NULL)"""


class Summaries(ApplicationRows):
    """Application summaries: the source of ``GET /api/v1/applications``."""

    name = "summaries"
    row_table = "application_summaries"
    columns = ("app_id", "call_id", "application_ref", "town_name", "city", "region", "track",
               "status", "version", "criteria_outcome", "score", "updated_at", "recorded_at",
               "deadline_outcome", "position")
    tables = {
        "application_summaries": """CREATE TABLE IF NOT EXISTS {name} (
            app_id TEXT PRIMARY KEY, call_id TEXT NOT NULL, application_ref TEXT NOT NULL,
            town_name TEXT NOT NULL, city TEXT NOT NULL, region TEXT NOT NULL,
            track TEXT NOT NULL, status TEXT NOT NULL, version INTEGER NOT NULL,
            criteria_outcome TEXT, score DOUBLE PRECISION, updated_at TEXT NOT NULL,
            recorded_at TEXT NOT NULL, deadline_outcome TEXT NOT NULL, position BIGINT NOT NULL,
            state TEXT NOT NULL)""",
        "checks": _CHECKS,
    }
    indexes = {"application_summaries": ["call_id, application_ref", "call_id, status",
                                         "call_id, city"]}

    def live_names(self) -> dict[str, str]:
        return {"application_summaries": "application_summaries", "checks": "summaries_checks"}

    def next_names(self) -> dict[str, str]:
        return {k: f"{v}__next" for k, v in self.live_names().items()}


class DeadlineReport(ApplicationRows):
    """Per call and application: pending, on time, lapsed, reinstated or not applicable, with
    the evidence (what was missing, what reinstated it) in the folded state."""

    name = "deadline_report"
    row_table = "deadline_report"
    columns = ("app_id", "call_id", "application_ref", "city", "status", "deadline_outcome",
               "materials_received_at", "detail", "position")
    tables = {
        "deadline_report": """CREATE TABLE IF NOT EXISTS {name} (
            app_id TEXT PRIMARY KEY, call_id TEXT NOT NULL, application_ref TEXT NOT NULL,
            city TEXT NOT NULL, status TEXT NOT NULL, deadline_outcome TEXT NOT NULL,
            materials_received_at TEXT, detail TEXT NOT NULL, position BIGINT NOT NULL,
            state TEXT NOT NULL)""",
        "checks": _CHECKS,
    }
    indexes = {"deadline_report": ["call_id, application_ref"]}

    def live_names(self) -> dict[str, str]:
        return {"deadline_report": "deadline_report", "checks": "deadline_report_checks"}

    def next_names(self) -> dict[str, str]:
        return {k: f"{v}__next" for k, v in self.live_names().items()}


def deadline_candidates(tx: Tx, call_id: str, cutoff: datetime) -> list[UUID]:
    """Applications of the call the deadline report shows open and short of the condition at
    the cutoff: all the deadline check needs to load (the others met it, for good)."""
    rows = tx.all("SELECT state FROM deadline_report WHERE call_id = ?", (call_id,))
    found = []
    for (text,) in rows:
        state = json.loads(text)
        if not dl.subject_to_check(state["status"]):
            continue
        recommended = state["recommended_at"]
        recommended_at = datetime.fromisoformat(recommended) if recommended else None
        if dl.shortfalls(recommended_at, _receipts(state), cutoff):
            found.append(UUID(state["app_id"]))
    return found
