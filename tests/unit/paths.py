"""Helpers shared by the unit tests of the life cycle and of authorisation: envelopes sent as a
principal, and the paths of commands that bring an application to each state through the real
ingest path (``tests.desk.Desk``).

Nothing here is imported from ``domain.lifecycle``: the tests check the code against DOMAIN.md.
"""

from __future__ import annotations

from datetime import datetime

from domain.service import Towns
from tests.desk import Desk
from tests.factories import CALL, CST, envelope

CUTOFF = datetime(2017, 3, 30, 23, 59, 59, tzinfo=CST)
CHECK_AT = datetime.fromisoformat("2017-03-31T23:59:59+08:00")  # cutoff + grace
PATH_DATE = datetime(2017, 3, 10, 10, tzinfo=CST).isoformat()  # the path to a state
EVENT_DATE = datetime(2017, 3, 20, 10, tzinfo=CST).isoformat()  # the event under test
LATE_DATE = datetime(2017, 4, 2, 10, tzinfo=CST).isoformat()  # after the cutoff

SUBMIT = "application.submitted"
RESUBMIT = "application.resubmitted"
WITHDRAW = "application.withdrawn"
RETURN = "application.returned"
VERIFY = "application.city_verified"
RECOMMEND = "application.recommended"
REJECT = "application.rejected"
MATERIALS = "materials.received"
EVALUATE = "application.evaluated"
APPROVE = "application.approved"
EVENT_TYPES = (SUBMIT, RESUBMIT, WITHDRAW, RETURN, VERIFY, RECOMMEND, REJECT, MATERIALS,
               EVALUATE, APPROVE)
ROLES = ("applicant", "city", "province", "auditor", "operator")

# DOMAIN.md, "The transition table (exact)", written out independently of domain/lifecycle.py:
# (event, by) -> (allowed while, becomes). None: no application with this (call, ref) yet.
UNCHANGED = "unchanged"
OPEN = {"submitted", "returned", "city_verified", "recommended", "evaluated"}
EXPECTED_TABLE: dict[tuple[str, str], tuple[set, str]] = {
    (SUBMIT, "applicant"): ({None}, "submitted"),
    (RESUBMIT, "applicant"): ({"returned"}, "submitted"),
    (WITHDRAW, "applicant"): (OPEN, "withdrawn"),
    (RETURN, "city"): ({"submitted", "city_verified"}, "returned"),
    (VERIFY, "city"): ({"submitted"}, "city_verified"),
    (RECOMMEND, "city"): ({"city_verified"}, "recommended"),
    (REJECT, "city"): ({"submitted", "returned", "city_verified"}, "rejected"),
    (REJECT, "province"): ({"recommended", "evaluated"}, "rejected"),
    (MATERIALS, "province"): ({"recommended"}, UNCHANGED),
    (EVALUATE, "province"): ({"recommended", "evaluated"}, "evaluated"),
    (APPROVE, "province"): ({"evaluated"}, "approved"),
}
# DOMAIN.md, "The deadline": what may still save a lapsed application, dated <= the cutoff
EVIDENCE = {VERIFY, RECOMMEND, MATERIALS}

# Paths of (event type, sending role) from nothing to each state. "recommended" carries complete
# materials, so that evaluation is decided by the table alone; evaluated passes every clause.
_SUBMITTED = [(SUBMIT, "applicant")]
_VERIFIED = _SUBMITTED + [(VERIFY, "city")]
_RECOMMENDED_BARE = _VERIFIED + [(RECOMMEND, "city")]
_RECOMMENDED = _RECOMMENDED_BARE + [(MATERIALS, "province")]
_EVALUATED = _RECOMMENDED + [(EVALUATE, "province")]
PATHS: dict[str, tuple[list[tuple[str, str]], bool]] = {
    # state name: (path, then run the deadline check)
    "submitted": (_SUBMITTED, False),
    "returned": (_SUBMITTED + [(RETURN, "city")], False),
    "city_verified": (_VERIFIED, False),
    "recommended": (_RECOMMENDED, False),
    "evaluated": (_EVALUATED, False),
    "approved": (_EVALUATED + [(APPROVE, "province")], False),
    "rejected": (_SUBMITTED + [(REJECT, "city")], False),
    "rejected_by_province": (_RECOMMENDED + [(REJECT, "province")], False),
    "withdrawn": (_SUBMITTED + [(WITHDRAW, "applicant")], False),
    # lapsed, named by the state beneath the lapse; "lapsed" is the plain case of the brief:
    # an application never recommended
    "lapsed": (_SUBMITTED, True),
    "lapsed@returned": (_SUBMITTED + [(RETURN, "city")], True),
    "lapsed@city_verified": (_VERIFIED, True),
    "lapsed@recommended": (_RECOMMENDED_BARE, True),  # recommended in time, no materials
}
NO_APPLICATION = "no application yet"

# What the path leaves behind, beside the state (for the expected reinstatement)
RECOMMENDED_BY_CUTOFF = {"lapsed@recommended"}


def principal_for(role: str, city: str) -> str:
    """The demo principal that naturally sends as ``role`` for an application of ``city``."""
    if role in ("applicant", "city"):
        return f"{city}-{role}"
    return role


def message(
    type_: str,
    ref: str,
    city: str,
    role: str,
    occurred_at: str = EVENT_DATE,
    actor_city: str | None = None,
    **kw,
) -> dict:
    """A valid envelope of ``type_`` sent as ``role``; only applicants and cities carry a city."""
    body = envelope(type_, ref, city, role=role, occurred_at=occurred_at, **kw)
    if role in ("applicant", "city"):
        body["actor"]["city"] = actor_city or city
    else:
        body["actor"].pop("city", None)
    return body


def drive(towns: Towns, config, state: str, ref: str = "SD-2017-001", city: str = "shunde",
          owner: str | None = None) -> Desk:
    """Brings application ``ref`` of ``city`` to ``state`` through the ingest path."""
    desk = Desk(towns, config)
    if state == NO_APPLICATION:
        return desk
    path, lapse = PATHS[state]
    for type_, role in path:
        principal = owner if (role == "applicant" and owner) else principal_for(role, city)
        desk.send(principal, message(type_, ref, city, role, occurred_at=PATH_DATE))
    if lapse:
        run = towns.check_deadline(CALL, CHECK_AT)
        assert ref in run.lapsed, run
    return desk


def max_notification_id(towns: Towns) -> int:
    return towns.recorder.max_notification_id() or 0
