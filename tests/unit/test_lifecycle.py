"""The transition table of DOMAIN.md, cell by cell, through the real ingest path.

For every (state, event type, sending role) an application is driven into the state, the event is
sent by the demo principal of that role (dated before the cutoff, with a valid payload, materials
complete and every clause passing), and the answer must be exactly what DOMAIN.md's table says:
the new state, or ``invalid_transition`` / ``forbidden`` / ``unknown_application`` — and a refused
command records nothing. The expected table is written out here, not imported from the code.
"""

from __future__ import annotations

import pytest

from domain import errors
from tests.factories import CALL
from tests.unit.paths import (
    CUTOFF,
    EVALUATE,
    EVENT_DATE,
    EVENT_TYPES,
    EVIDENCE,
    EXPECTED_TABLE,
    LATE_DATE,
    MATERIALS,
    NO_APPLICATION,
    PATHS,
    RECOMMEND,
    RECOMMENDED_BY_CUTOFF,
    ROLES,
    SUBMIT,
    UNCHANGED,
    VERIFY,
    drive,
    max_notification_id,
    message,
    principal_for,
)

TABLE = EXPECTED_TABLE  # DOMAIN.md's table, from tests/unit/paths.py


def status_of(state: str) -> str | None:
    """The status an application shows in a state of ``PATHS``."""
    if state == NO_APPLICATION:
        return None
    if state.startswith("lapsed"):
        return "lapsed"
    return "rejected" if state.startswith("rejected") else state


def beneath(state: str) -> str:
    """The life-cycle state beneath a lapse."""
    return state.split("@", 1)[1] if "@" in state else "submitted"


def expected(state: str, type_: str, role: str, late: bool = False) -> tuple:
    """("ok", new status, events recorded) or (error code,), from DOMAIN.md alone."""
    if (type_, role) not in TABLE:
        return ("forbidden",)  # the role never sends this type
    allowed, becomes = TABLE[(type_, role)]
    status = status_of(state)
    if status is None:
        if type_ != SUBMIT:
            return ("unknown_application",)
        return ("deadline_passed",) if late else ("ok", becomes, 1)
    if type_ == SUBMIT:
        # a second submission of an existing (call, ref); deadline_passed comes first in
        # "Refusals, in this order"
        return ("deadline_passed",) if late else ("invalid_transition",)
    if status == "lapsed":
        under = beneath(state)
        if type_ not in EVIDENCE or late or under not in allowed:
            return ("invalid_transition",)
        reached = under if becomes == UNCHANGED else becomes
        recommended = state in RECOMMENDED_BY_CUTOFF or type_ == RECOMMEND
        materials = type_ == MATERIALS  # the valid payload is 2 bound paper + 1 labelled copy
        if recommended and materials:
            return ("ok", reached, 2)  # the evidence, then `reinstated`
        return ("ok", "lapsed", 1)
    if status not in allowed:
        return ("invalid_transition",)
    return ("ok", status if becomes == UNCHANGED else becomes, 1)


STATES = [NO_APPLICATION, *PATHS]
CASES = [(s, t, r) for s in STATES for t in EVENT_TYPES for r in ROLES]


def send_and_check(towns, config, state, type_, role, occurred_at=EVENT_DATE, late=False):
    ref, city = "SD-2017-001", "shunde"
    desk = drive(towns, config, state, ref, city)
    before = towns.application(CALL, ref)
    before_version = before.version if before else 0
    before_status = before.status if before else None
    before_log = max_notification_id(towns)
    body = message(type_, ref, city, role, occurred_at=occurred_at)
    want = expected(state, type_, role, late)
    if want[0] == "ok":
        outcome = desk.send(principal_for(role, city), body)
        _, status, recorded = want
        assert (outcome.status, outcome.version, outcome.duplicate) == (
            status, before_version + recorded, False)
        after = towns.application(CALL, ref)
        assert (after.status, after.version) == (status, before_version + recorded)
    else:
        with pytest.raises(errors.DomainError) as info:
            desk.send(principal_for(role, city), body)
        assert info.value.code == want[0], info.value.message
        after = towns.application(CALL, ref)
        assert (after.version if after else 0) == before_version  # recorded nothing
        assert (after.status if after else None) == before_status
        assert max_notification_id(towns) == before_log


@pytest.mark.parametrize("state, type_, role", CASES, ids=["|".join(c) for c in CASES])
def test_the_table_decides(memory_towns, config, state, type_, role):
    send_and_check(memory_towns, config, state, type_, role)


LAPSED = [s for s in PATHS if s.startswith("lapsed")]
LAPSED_CASES = [(s, t, r) for s in LAPSED for t in EVENT_TYPES for r in ROLES]


@pytest.mark.parametrize("state, type_, role", LAPSED_CASES, ids=["|".join(c) for c in LAPSED_CASES])
def test_nothing_dated_after_the_cutoff_saves_a_lapsed_application(
    memory_towns, config, state, type_, role
):
    send_and_check(memory_towns, config, state, type_, role, occurred_at=LATE_DATE, late=True)


@pytest.mark.parametrize(
    "occurred_at, accepted",
    [
        (CUTOFF.isoformat(), True),  # the cutoff itself counts
        ("2017-03-30T15:59:59+00:00", True),  # the same instant in another offset
        ("2017-03-30T23:59:59.999999+08:00", False),  # a microsecond past the second
        ("2017-03-31T00:00:00+08:00", False),
        ("2017-03-30T16:00:00Z", False),  # = 2017-03-31T00:00:00+08:00
    ],
)
def test_the_cutoff_is_inclusive_and_judged_on_the_instant(memory_towns, config, occurred_at,
                                                          accepted):
    state = "lapsed@recommended"
    send_and_check(memory_towns, config, state, MATERIALS, "province", occurred_at=occurred_at,
                   late=not accepted)
    if accepted:
        app = memory_towns.application(CALL, "SD-2017-001")
        assert memory_towns.deadline_outcome(app).outcome == "reinstated"


def test_evidence_walks_a_lapsed_application_up_to_reinstatement(memory_towns, config):
    """Timely evidence moves the state beneath the lapse; only the condition reinstates."""
    towns = memory_towns
    desk = drive(towns, config, "lapsed")
    ref, city = "SD-2017-001", "shunde"
    steps = [
        (VERIFY, "city", ("lapsed", 3)),
        (VERIFY, "city", "invalid_transition"),  # a second city_verified does not fit
        (RECOMMEND, "city", ("lapsed", 4)),
        (MATERIALS, "province", None),  # 1 paper copy: still short
        (MATERIALS, "province", ("recommended", 7)),  # complete: reinstated (+2)
    ]
    for i, (type_, role, want) in enumerate(steps):
        kw = {"paper_copies": 1} if i == 3 else {}
        body = message(type_, ref, city, role, **kw)
        if want == "invalid_transition":
            with pytest.raises(errors.InvalidTransition):
                desk.send(principal_for(role, city), body)
            continue
        outcome = desk.send(principal_for(role, city), body)
        if want is not None:
            assert (outcome.status, outcome.version) == want
        else:
            assert (outcome.status, outcome.version) == ("lapsed", 5)
    app = towns.application(CALL, ref)
    assert app.reinstated is not None and app.lapsed_from is None
    assert towns.deadline_outcome(app).outcome == "reinstated"
    # and from there the table applies as usual
    assert desk.send("province", message(EVALUATE, ref, city, "province")).status == "evaluated"


def test_expected_table_is_complete():
    """Every row of DOMAIN.md's table is exercised by a path state that fits it."""
    for (type_, role), (allowed, _) in TABLE.items():
        fitting = [s for s in STATES if status_of(s) in allowed and not s.startswith("lapsed")]
        assert fitting, (type_, role)
