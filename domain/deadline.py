"""The deadline (DOMAIN.md, "The deadline"): materials, the condition at the cutoff, outcomes,
and the record that a call's check has run.

Judged on business time. Paper copies count only if A4 and bound, electronic copies only if
labelled; complete means at least 2 paper and 1 electronic copy.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import Aggregate

from domain import lifecycle as lc
from domain.ids import Namespace

PAPER_COPIES_REQUIRED = 2
ELECTRONIC_COPIES_REQUIRED = 1

PENDING = "pending"
ON_TIME = "on_time"
LAPSED = "lapsed"
REINSTATED = "reinstated"
NOT_APPLICABLE = "not_applicable"


def _counted(receipt: dict) -> tuple[int, int]:
    paper = receipt["paper_copies"] if receipt.get("a4_bound") else 0
    electronic = receipt["electronic_copies"] if receipt.get("electronic_labelled") else 0
    return paper, electronic


def materials_totals(receipts: list[dict], until: datetime | None = None) -> tuple[int, int]:
    """Paper and electronic copies that count, from receipts dated no later than ``until``."""
    paper = electronic = 0
    for receipt in receipts:
        if until is None or receipt["occurred_at"] <= until:
            p, e = _counted(receipt)
            paper, electronic = paper + p, electronic + e
    return paper, electronic


def materials_complete(receipts: list[dict], until: datetime | None = None) -> bool:
    paper, electronic = materials_totals(receipts, until)
    return paper >= PAPER_COPIES_REQUIRED and electronic >= ELECTRONIC_COPIES_REQUIRED


def materials_received_at(receipts: list[dict]) -> datetime | None:
    """Business time of the receipt that completed the materials, in business-time order."""
    paper = electronic = 0
    for receipt in sorted(receipts, key=lambda r: r["occurred_at"]):
        p, e = _counted(receipt)
        paper, electronic = paper + p, electronic + e
        if paper >= PAPER_COPIES_REQUIRED and electronic >= ELECTRONIC_COPIES_REQUIRED:
            return receipt["occurred_at"]
    return None


def shortfalls(recommended_at: datetime | None, receipts: list[dict], cutoff: datetime) -> list[str]:
    """What the application lacked at the cutoff; empty when it met the condition."""
    missing = []
    if recommended_at is None or recommended_at > cutoff:
        missing.append("not recommended by the cutoff")
    paper, electronic = materials_totals(receipts, cutoff)
    if paper < PAPER_COPIES_REQUIRED:
        missing.append(f"{paper} of {PAPER_COPIES_REQUIRED} paper copies (A4, bound) by the cutoff")
    if electronic < ELECTRONIC_COPIES_REQUIRED:
        missing.append(
            f"{electronic} of {ELECTRONIC_COPIES_REQUIRED} electronic copies (labelled) by the cutoff"
        )
    return missing


def subject_to_check(status: str) -> bool:
    """The check lapses applications that are neither closed by a decision nor lapsed already."""
    return status not in lc.CLOSED_BY_DECISION and status != lc.LAPSED


@dataclass(frozen=True)
class DeadlineOutcome:
    outcome: str
    detail: str

    def as_dict(self) -> dict:
        return {"outcome": self.outcome, "detail": self.detail}


def outcome(
    status: str,
    lapse: dict | None,
    reinstated: dict | None,
    closed_before_check: bool,
    checked: bool,
) -> DeadlineOutcome:
    """An application's deadline outcome (DOMAIN.md, "The deadline"); the service's reads and
    the read models both answer with this one function."""
    if status == lc.LAPSED and lapse:
        return DeadlineOutcome(LAPSED, "; ".join(lapse["missing"]))
    if reinstated:
        return DeadlineOutcome(REINSTATED, reinstated.get("detail", ""))
    if status in lc.CLOSED_BY_DECISION and closed_before_check:
        return DeadlineOutcome(NOT_APPLICABLE, f"{status} before the deadline check")
    if not checked:
        return DeadlineOutcome(PENDING, "the deadline check has not run")
    return DeadlineOutcome(ON_TIME, "recommended with complete materials by the cutoff")


def outcome_of(app, checked_at: datetime | None) -> DeadlineOutcome:
    """An application's deadline outcome, given when (record time) its call's check ran."""
    closed_at = getattr(app, "closed_at", None)
    closed_before = closed_at is not None and (checked_at is None or closed_at < checked_at)
    return outcome(app.status, app.lapse, app.reinstated, closed_before, checked_at is not None)


NAMESPACE = Namespace(uuid5(NAMESPACE_URL, "https://towns.gd.gov.cn/deadline-checks"))


def deadline_check_id(call_id: str, cutoff: datetime) -> UUID:
    return NAMESPACE.uuid5(f"{call_id}\n{cutoff.isoformat()}")


class DeadlineCheck(Aggregate):
    """That a call's check (for one cutoff) has run, and what it found."""

    TOPIC = "towns:DeadlineCheck"

    class Event(Aggregate.Event):
        TOPIC = "towns:DeadlineCheck.Event"

    class Ran(Event, Aggregate.Created):
        TOPIC = "towns:DeadlineCheck.Ran"
        call_id: str
        cutoff: datetime
        as_of: datetime
        checked: int
        lapsed: list

        def apply(self, check: DeadlineCheck) -> None:
            check.call_id = self.call_id
            check.cutoff = self.cutoff
            check.as_of = self.as_of
            check.ran_at = self.timestamp
            check.lapsed = list(self.lapsed)

    call_id: str
    ran_at: datetime

    def __init__(self, **_: object) -> None:
        """State is set by the events' mutators."""

    @classmethod
    def ran(
        cls, call_id: str, cutoff: datetime, as_of: datetime, checked: int, lapsed: list[str]
    ) -> DeadlineCheck:
        return cls._create(
            cls.Ran,
            id=deadline_check_id(call_id, cutoff),
            call_id=call_id,
            cutoff=cutoff,
            as_of=as_of,
            checked=checked,
            lapsed=lapsed,
        )
