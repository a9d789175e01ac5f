"""The life cycle of an application: its states and the one transition table every command goes
through (DOMAIN.md, "The transition table"). A state name is written here and nowhere else."""

from __future__ import annotations

from dataclasses import dataclass

from domain.principals import APPLICANT, CITY, PROVINCE

SUBMITTED = "submitted"
RETURNED = "returned"
CITY_VERIFIED = "city_verified"
RECOMMENDED = "recommended"
EVALUATED = "evaluated"
APPROVED = "approved"
REJECTED = "rejected"
WITHDRAWN = "withdrawn"
LAPSED = "lapsed"
STATES = (
    SUBMITTED,
    RETURNED,
    CITY_VERIFIED,
    RECOMMENDED,
    EVALUATED,
    APPROVED,
    REJECTED,
    WITHDRAWN,
    LAPSED,
)
CLOSED_BY_DECISION = frozenset({REJECTED, WITHDRAWN})
"""Closed before or after the deadline check; the check leaves them alone."""

SUBMIT = "application.submitted"
RESUBMIT = "application.resubmitted"
WITHDRAW = "application.withdrawn"
RETURN = "application.returned"
VERIFY = "application.city_verified"
RECOMMEND = "application.recommended"
REJECT = "application.rejected"
RECEIVE_MATERIALS = "materials.received"
EVALUATE = "application.evaluated"
APPROVE = "application.approved"
EVENT_TYPES = (
    SUBMIT,
    RESUBMIT,
    WITHDRAW,
    RETURN,
    VERIFY,
    RECOMMEND,
    REJECT,
    RECEIVE_MATERIALS,
    EVALUATE,
    APPROVE,
)

LAPSE = "application.lapsed"
REINSTATE = "application.reinstated"

@dataclass(frozen=True)
class Standing:
    """Where an application stands: its status, and beneath a lapse the state reached."""

    status: str
    lapsed_from: str | None = None

    @property
    def underlying(self) -> str:
        return self.lapsed_from if self.status == LAPSED and self.lapsed_from else self.status


def standing_after(standing: Standing | None, event_type: str, data: dict) -> Standing:
    """Where a recorded event leaves an application. Never refuses: the rules that decide
    whether an event may happen are checked before it is recorded. The aggregate and the read
    models both follow this one function."""
    if event_type == LAPSE:
        return Standing(LAPSED, standing.underlying)
    if event_type == REINSTATE:
        return Standing(data["status"])
    target = target_state(event_type)
    if target is None:
        return standing
    if standing is not None and standing.status == LAPSED and target not in CLOSED_BY_DECISION:
        return Standing(LAPSED, target)  # timely evidence moves what lies beneath the lapse
    return Standing(target)


EVIDENCE_TYPES = frozenset({VERIFY, RECOMMEND, RECEIVE_MATERIALS})
"""Events that, dated no later than the cutoff, may still save a lapsed application."""


@dataclass(frozen=True)
class Transition:
    event_type: str
    role: str
    allowed_from: frozenset[str]
    becomes: str | None  # None: the state is unchanged (materials receipts add up)

    def allows(self, state: str | None) -> bool:
        return state in self.allowed_from


def _row(event_type: str, role: str, allowed: tuple[str, ...], becomes: str | None) -> Transition:
    return Transition(event_type, role, frozenset(allowed), becomes)


_OPEN = (SUBMITTED, RETURNED, CITY_VERIFIED, RECOMMENDED, EVALUATED)

TABLE: tuple[Transition, ...] = (
    _row(SUBMIT, APPLICANT, (None,), SUBMITTED),  # None: no application with this (call, ref) yet
    _row(RESUBMIT, APPLICANT, (RETURNED,), SUBMITTED),
    _row(WITHDRAW, APPLICANT, _OPEN, WITHDRAWN),
    _row(RETURN, CITY, (SUBMITTED, CITY_VERIFIED), RETURNED),
    _row(VERIFY, CITY, (SUBMITTED,), CITY_VERIFIED),
    _row(RECOMMEND, CITY, (CITY_VERIFIED,), RECOMMENDED),
    _row(REJECT, CITY, (SUBMITTED, RETURNED, CITY_VERIFIED), REJECTED),
    _row(REJECT, PROVINCE, (RECOMMENDED, EVALUATED), REJECTED),
    _row(RECEIVE_MATERIALS, PROVINCE, (RECOMMENDED,), None),
    _row(EVALUATE, PROVINCE, (RECOMMENDED, EVALUATED), EVALUATED),
    _row(APPROVE, PROVINCE, (EVALUATED,), APPROVED),
)

_BY_KEY = {(t.event_type, t.role): t for t in TABLE}
_BECOMES = {t.event_type: t.becomes for t in TABLE}
assert all(_BECOMES[t.event_type] == t.becomes for t in TABLE), "one target state per event"


def target_state(event_type: str) -> str | None:
    """The state an event leads to, from the table; None: the state is unchanged."""
    return _BECOMES[event_type]


def transition_for(event_type: str, role: str) -> Transition | None:
    """The row for this event sent by this role; None when the role never sends it."""
    return _BY_KEY.get((event_type, role))


def roles_sending(event_type: str) -> frozenset[str]:
    return frozenset(t.role for t in TABLE if t.event_type == event_type)


def allowed_states(event_type: str, role: str) -> tuple[str, ...]:
    row = transition_for(event_type, role)
    return tuple(s for s in STATES if row and s in row.allowed_from)
