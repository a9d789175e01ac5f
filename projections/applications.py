"""The per-application read models: application summaries (the source of the applications
list) and the deadline report. Both fold the same events the same way (``fold``), through the
domain's own status rule and deadline outcome, and differ only in the columns they keep."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from operator import itemgetter
from typing import Any, ClassVar
from uuid import UUID

from domain import deadline as dl
from projections.application_state import (  # noqa: F401 - the views' own, for their readers
    CHECK, LAST_WINS, TOPICS, TYPES, Stored, criteria_outcome, fold, new_state, receipts,
    with_outcome)
from projections.base import Projection, Recorded, displayed, dump, parse
from projections.store import Tx

class ApplicationRows(Projection):
    """A table of one row per application: the columns below, and the folded state as JSON."""

    topics = TOPICS
    decodes = False  # the folds read the stored JSON
    columns: ClassVar[tuple[str, ...]]
    row_table: ClassVar[str]

    def apply(self, tx: Tx, names: dict[str, str], batch: Sequence[Recorded]) -> None:
        table, checks = names[self.row_table], names["checks"]
        checked = {row[0] for row in tx.all(f"SELECT call_id FROM {checks}")}
        # Backwards through the batch: which events are an application's last in it, and which
        # a later event of the same type replaces; their JSON need not be read.
        later: set = set()
        marks: list[tuple[bool, bool]] = []
        ids: dict = {}
        for recorded in reversed(batch):
            if recorded.topic == CHECK:
                marks.append((False, True))
                continue
            uuid = recorded.originator_id or recorded.event.originator_id
            key = (uuid, recorded.topic)
            last = uuid not in ids
            if last:
                ids[uuid] = str(uuid)
            marks.append((key in later, last))
            later.add(key)
        marks.reverse()
        states = self._load(tx, table, sorted(ids.values()))
        stored = set(states)  # rows that exist: upserted; the others are new, inserted
        for recorded, (superseded, last) in zip(batch, marks):
            if recorded.topic == CHECK:
                call_id = Stored(recorded).extra["call_id"]
                if call_id not in checked:
                    checked.add(call_id)
                    tx.execute(f"INSERT INTO {checks} (call_id, position) VALUES (?, ?)",
                               (call_id, recorded.position))
                    found = self._load_call(tx, table, call_id, exclude=states)
                    states.update(found)
                    stored.update(found)
                    for state in states.values():
                        if state["call_id"] == call_id:
                            with_outcome(state, True)
                continue
            app_id = ids[recorded.originator_id or recorded.event.originator_id]
            states[app_id] = fold(states.get(app_id), Stored(recorded), checked, superseded, last)
        for state in states.values():  # once per application and batch, not per event
            with_outcome(state, state["call_id"] in checked)
        self._save(tx, table, [s for a, s in states.items() if a in stored],
                   [s for a, s in states.items() if a not in stored])

    def _load(self, tx: Tx, table: str, ids: list[str]) -> dict[str, dict]:
        states: dict[str, dict] = {}
        for (state,) in tx.all_in(f"SELECT state FROM {table} WHERE app_id", ids):
            loaded = parse(state.encode("utf-8"))
            states[loaded["app_id"]] = loaded
        return states

    def _load_call(self, tx: Tx, table: str, call_id: str, exclude: dict) -> dict[str, dict]:
        rows = tx.all(f"SELECT app_id, state FROM {table} WHERE call_id = ?", (call_id,))
        return {app_id: parse(state.encode("utf-8")) for app_id, state in rows
                if app_id not in exclude}

    def _save(self, tx: Tx, table: str, stored: list[dict], new: list[dict]) -> None:
        """Rows that exist are upserted; rows first made in this batch are only inserted."""
        columns = (*self.columns, "state")
        cells = itemgetter(*("deadline_detail" if c == "detail" else c for c in self.columns))
        texts = [i for i, c in enumerate(self.columns) if c in UPSTREAM_TEXT]
        tx.upsert_many(table, columns, "app_id", [_row(cells, texts, s) for s in stored])
        tx.insert_many(table, columns, [_row(cells, texts, s) for s in new])


UPSTREAM_TEXT = frozenset({"application_ref", "town_name"})
"""The columns whose text comes from upstream as it was sent; the others hold values the
service checked against its own lists (call, city, track) or made itself."""


def _row(cells: itemgetter, texts: list[int], state: dict) -> tuple:
    """A row of the state's columns and the state as JSON (a NUL written as the escape
    ``\\u0000``: the JSON keeps every value as it was). PostgreSQL's text cannot hold NUL: where
    upstream text holds one, the columns show U+FFFD in its place."""
    row = cells(state)
    for i in texts:
        if "\x00" in row[i]:
            return (*(displayed(c) for c in row), dump(state))
    return (*row, dump(state))



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
    the cutoff: all the deadline check needs to load (the others met it, for good). A row's
    JSON is read only where its status column (the state's own status) leaves it subject to
    the check, and by orjson where that reads it as ``json`` does (``projections.base.parse``)."""
    rows = tx.all("SELECT status, state FROM deadline_report WHERE call_id = ?", (call_id,))
    found = []
    subject, short = dl.subject_to_check, dl.shortfalls
    for status, text in rows:
        if not subject(status):
            continue
        state = parse(text.encode("utf-8"))
        if not subject(state["status"]):
            continue
        recommended = state["recommended_at"]
        recommended_at = datetime.fromisoformat(recommended) if recommended else None
        if short(recommended_at, receipts(state), cutoff):
            found.append(UUID(state["app_id"]))
    return found
