"""What the per-application read models fold (``projections.applications``): an application's
state from its events, in log order, through the domain's own status rule and deadline
outcome."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from domain import deadline as dl
from domain import lifecycle as lc
from domain.applications import Application
from domain.deadline import DeadlineCheck
from domain.jurisdictions import region_of
from projections.base import Recorded, next_standing, parse

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


CHECK = DeadlineCheck.Ran.TOPIC


def _loaded(slot: str) -> property:
    """A field of ``Stored`` read with the rest of the event when first asked for."""

    def get(self: Stored) -> Any:
        if not self._read:
            self._load()
        return getattr(self, slot)

    return property(get)


class Stored:
    """An application event as the folds need it, with times as the exact ISO strings stored:
    read from the stored JSON when the runner did not decode (the cheaper way), else from the
    decoded event. The JSON is parsed only when a field is first asked for: a fold reads it
    only for the events whose content it keeps."""

    __slots__ = ("recorded", "type", "version", "position", "_data", "_occurred_at",
                 "_timestamp", "_extra", "_read")

    def __init__(self, recorded: Recorded) -> None:
        self.recorded = recorded
        self.position = recorded.position
        event = recorded.event
        if event is None:
            self.type = TYPES.get(recorded.topic)
            self.version = recorded.originator_version
        else:
            self.type = getattr(event, "EVENT_TYPE", None)
            self.version = event.originator_version
        self._read = False

    def _load(self) -> None:
        event = self.recorded.event
        if event is None:
            doc = parse(self.recorded.state)
            self._data = doc.get("data")
            self._occurred_at = doc.get("occurred_at", {}).get("_data_")
            self._timestamp = doc["timestamp"]["_data_"]
            self._extra = doc
        else:
            self._data = getattr(event, "data", None)
            occurred = getattr(event, "occurred_at", None)
            self._occurred_at = occurred.isoformat() if occurred else None
            self._timestamp = event.timestamp.isoformat()
            self._extra = {"call_id": getattr(event, "call_id", None)}
        self._read = True

    @property
    def app_id(self) -> str:
        recorded = self.recorded
        return str(recorded.originator_id or recorded.event.originator_id)

    data = _loaded("_data")
    occurred_at = _loaded("_occurred_at")
    timestamp = _loaded("_timestamp")
    extra = _loaded("_extra")


TYPES = {cls.TOPIC: cls.EVENT_TYPE for cls in (
    Application.Submitted, Application.Resubmitted, Application.Withdrawn,
    Application.Returned, Application.CityVerified, Application.Recommended,
    Application.Rejected, Application.MaterialsReceived, Application.Evaluated,
    Application.Approved, Application.Lapsed, Application.Reinstated,
)}
LAST_WINS = frozenset({lc.RECOMMEND, lc.EVALUATE})
"""Event types whose content an application's state keeps only from the latest one."""


def new_state(app_id: str, data: dict) -> dict:
    """An application's state before its first event (the submission's ``data``) is folded.
    The last four keys are set by every fold; they are here to keep the JSON's key order."""
    return {
        "app_id": app_id, "call_id": data["call_id"],
        "application_ref": data["application_ref"], "town_name": data["town_name"],
        "city": data["city"], "region": region_of(data["city"]), "track": data["track"],
        "status": None, "lapsed_from": None, "receipts": [], "recommended_at": None,
        "criteria_outcome": None, "score": None, "lapse": None, "reinstated": None,
        "closed_before_check": False,
        "version": None, "updated_at": None, "recorded_at": None, "position": None,
    }


def fold(state: dict | None, recorded: Recorded | Stored, checked: set[str],
         superseded: bool = False, last: bool = True) -> dict:
    """The state an application's row holds after one more of its events (JSON-safe).

    ``superseded``: a later event of the same type in the same batch replaces what this one
    would keep (``LAST_WINS``); ``last``: no later event of the application in the batch, whose
    fold would set the version, times and position again. Both only spare reading the JSON."""
    event = recorded if isinstance(recorded, Stored) else Stored(recorded)
    if state is None:
        state = new_state(event.app_id, event.data)
    kind = event.type
    state["status"], state["lapsed_from"] = next_standing(
        state["status"], state["lapsed_from"], kind, event.recorded)
    if kind in LAST_WINS and superseded:
        pass
    elif kind == lc.RECOMMEND:
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
    if last:
        state.update(
            version=event.version,
            updated_at=event.occurred_at,
            recorded_at=event.timestamp,
            position=event.position,
        )
    return state


def with_outcome(state: dict, checked: bool) -> dict:
    result = dl.outcome(state["status"], state["lapse"], state["reinstated"],
                        state["closed_before_check"], checked)
    state["deadline_outcome"], state["deadline_detail"] = result.outcome, result.detail
    received = dl.materials_received_at(receipts(state))
    state["materials_received_at"] = received.isoformat() if received else None
    return state


def receipts(state: dict) -> list[dict]:
    return [{**r, "occurred_at": datetime.fromisoformat(r["occurred_at"])} for r in state["receipts"]]
