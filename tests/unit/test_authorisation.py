"""Who may send what on which application (DOMAIN.md "Who is who", CONTRACT.md §1-2), and the
order of refusals (DOMAIN.md "Refusals, in this order").

The matrix puts each application in a state where the event fits the table, and has each
principal send as the actor it may act as, so that only role, jurisdiction and ownership decide.
"""

from __future__ import annotations

import pytest

from domain import errors
from tests.factories import CALL, indicators
from tests.unit.paths import (
    APPROVE, EVALUATE, EVENT_TYPES, LATE_DATE, MATERIALS, NO_APPLICATION, RECOMMEND, REJECT,
    RESUBMIT, RETURN, SUBMIT, VERIFY, WITHDRAW, drive, max_notification_id, message,
)

# principal kind: (the application's city, the principal)
KINDS: dict[str, tuple[str, str]] = {
    "owner": ("guangzhou", "guangzhou-applicant"),
    "other applicant, same city": ("guangzhou", "guangzhou-applicant-2"),
    "applicant of another city": ("guangzhou", "shenzhen-applicant"),
    "foshan applicant on a shunde application": ("shunde", "foshan-applicant"),
    "shunde applicant on a foshan application": ("foshan", "shunde-applicant"),
    "the application's city": ("guangzhou", "guangzhou-city"),
    "foshan city on a shunde application": ("shunde", "foshan-city"),
    "shunde city on a foshan application": ("foshan", "shunde-city"),
    "another city": ("guangzhou", "shenzhen-city"),
    "province": ("guangzhou", "province"),
    "auditor": ("guangzhou", "auditor"),
    "operator": ("guangzhou", "operator"),
}

# Who may send each type, by principal kind (DOMAIN.md "Who is who" and the table). A
# submission creates the sender's own application: any applicant of the payload's city may.
MAY_SEND: dict[str, set[str]] = {
    SUBMIT: {"owner", "other applicant, same city"},
    RESUBMIT: {"owner"},
    WITHDRAW: {"owner"},
    RETURN: {"the application's city"},
    VERIFY: {"the application's city"},
    RECOMMEND: {"the application's city"},
    REJECT: {"the application's city", "province"},
    MATERIALS: {"province"},
    EVALUATE: {"province"},
    APPROVE: {"province"},
}
BECOMES = {
    SUBMIT: "submitted", RESUBMIT: "submitted", WITHDRAW: "withdrawn", RETURN: "returned",
    VERIFY: "city_verified", RECOMMEND: "recommended", REJECT: "rejected",
    MATERIALS: "recommended", EVALUATE: "evaluated", APPROVE: "approved",
}


def fitting_state(type_: str, role: str) -> str:
    """A state in which ``type_`` fits the table for its rightful sender."""
    return {
        SUBMIT: NO_APPLICATION,
        RESUBMIT: "returned",
        WITHDRAW: "submitted",
        RETURN: "submitted",
        VERIFY: "submitted",
        RECOMMEND: "city_verified",
        REJECT: "recommended" if role == "province" else "submitted",
        MATERIALS: "recommended",
        EVALUATE: "recommended",
        APPROVE: "evaluated",
    }[type_]


def as_itself(config, principal: str) -> tuple[str, str | None]:
    """The actor (role, city) a principal may act as."""
    p = config.principals[principal]
    return p.role, p.city


def snapshot(towns, ref):
    app = towns.application(CALL, ref)
    return (app.version, app.status) if app else None


MATRIX = [(k, t) for k in KINDS for t in EVENT_TYPES]


@pytest.mark.parametrize("kind, type_", MATRIX, ids=[f"{k}|{t}" for k, t in MATRIX])
def test_roles_and_jurisdictions(memory_towns, config, kind, type_):
    towns = memory_towns
    app_city, principal = KINDS[kind]
    role, own_city = as_itself(config, principal)
    ref = f"{app_city[:2].upper()}-2017-001"
    desk = drive(towns, config, fitting_state(type_, role), ref, app_city)
    before, log = snapshot(towns, ref), max_notification_id(towns)
    body = message(type_, ref, app_city, role, actor_city=own_city)
    if kind in MAY_SEND[type_]:
        outcome = desk.send(principal, body)
        assert outcome.status == BECOMES[type_]
        if type_ == SUBMIT:
            assert towns.application(CALL, ref).owner == principal
    else:
        with pytest.raises(errors.Forbidden):
            desk.send(principal, body)
        assert snapshot(towns, ref) == before
        assert max_notification_id(towns) == log


ACTING_AS_ANOTHER = [
    # (principal, actor role, actor city, type)
    ("guangzhou-city", "city", "shenzhen", VERIFY),  # role matches, city does not
    ("foshan-city", "city", "shunde", VERIFY),  # Foshan is not Shunde's authority
    ("shunde-city", "city", "foshan", VERIFY),
    ("guangzhou-applicant", "applicant", "shenzhen", WITHDRAW),
    ("foshan-applicant", "applicant", "shunde", WITHDRAW),
    ("guangzhou-applicant-2", "applicant", "shenzhen", WITHDRAW),
    ("province", "city", "shenzhen", VERIFY),  # role differs
    ("auditor", "province", None, MATERIALS),
    ("operator", "province", None, APPROVE),
    ("shenzhen-city", "applicant", "shenzhen", WITHDRAW),
    ("shenzhen-applicant", "city", "shenzhen", VERIFY),
]


@pytest.mark.parametrize("principal, role, actor_city, type_", ACTING_AS_ANOTHER)
def test_a_principal_may_act_only_as_its_own_actor(memory_towns, config, principal, role,
                                                   actor_city, type_):
    towns = memory_towns
    app_city = actor_city or "shenzhen"
    ref = "X-2017-001"
    state = {VERIFY: "submitted", WITHDRAW: "submitted", MATERIALS: "recommended",
             APPROVE: "evaluated"}[type_]
    desk = drive(towns, config, state, ref, app_city)
    before, log = snapshot(towns, ref), max_notification_id(towns)
    with pytest.raises(errors.Forbidden):
        desk.send(principal, message(type_, ref, app_city, role, actor_city=actor_city))
    assert snapshot(towns, ref) == before and max_notification_id(towns) == log


@pytest.mark.parametrize("type_", EVENT_TYPES)
def test_no_principal_is_unauthenticated(memory_towns, config, type_):
    desk = drive(memory_towns, config, fitting_state(type_, "city"), "SD-2017-001", "shunde")
    log = max_notification_id(memory_towns)
    with pytest.raises(errors.Unauthenticated):
        desk.send(None, message(type_, "SD-2017-001", "shunde", "city"))
    with pytest.raises(errors.Unauthenticated):  # before malformed
        desk.send(None, b"\xff not json")
    assert max_notification_id(memory_towns) == log


# -- the order of refusals -------------------------------------------------------------------


def refused(code: str):
    return pytest.raises(errors.ERROR_CLASSES[code])


def test_unauthenticated_then_malformed_then_schema_then_unknown_type(memory_towns, config):
    desk = drive(memory_towns, config, NO_APPLICATION)
    with refused("malformed"):
        desk.send("auditor", b"[1, 2")
    with refused("malformed"):
        desk.send("auditor", b"[]")  # not an object
    bad_envelope = message(VERIFY, "SD-2017-001", "shunde", "city")
    del bad_envelope["occurred_at"]
    bad_envelope["type"] = "application.teleported"
    with refused("schema_invalid"):  # the envelope's shape before the type
        desk.send("auditor", bad_envelope)
    unknown = message(VERIFY, "SD-2017-001", "shunde", "city")
    unknown["type"] = "application.teleported"
    unknown["call_id"] = "GD-2099"
    with refused("unknown_type"):  # before the payload, the call and authorisation
        desk.send("auditor", unknown)


def test_payload_shape_beats_the_call_and_authorisation(memory_towns, config):
    desk = drive(memory_towns, config, NO_APPLICATION)
    body = message(EVALUATE, "SD-2017-404", "shunde", "province",
                   waivers=[{"criterion": "3(1)", "reason": "no such clause"}])
    body["call_id"] = "GD-2099"
    with refused("schema_invalid"):
        desk.send("auditor", body)
    attest = message(VERIFY, "SD-2017-404", "shunde", "city",
                     attestation={"truthful": True, "complete": False})
    with refused("schema_invalid"):
        desk.send("foshan-city", attest)


@pytest.mark.parametrize(
    "principal, role, actor_city, type_",
    [
        ("auditor", "city", "shunde", VERIFY),
        ("foshan-city", "city", "shunde", VERIFY),
        ("shunde-applicant", "applicant", "shunde", VERIFY),  # role never sends it
        ("operator", "operator", None, APPROVE),
    ],
)
def test_unknown_call_beats_forbidden(memory_towns, config, principal, role, actor_city, type_):
    desk = drive(memory_towns, config, "submitted")
    body = {**message(type_, "SD-2017-001", "shunde", role, actor_city=actor_city),
            "call_id": "GD-2099"}
    with refused("unknown_call"):
        desk.send(principal, body)


@pytest.mark.parametrize(
    "principal, role, actor_city, type_",
    [
        ("foshan-city", "city", "shunde", VERIFY),  # may not act as Shunde
        ("shunde-applicant", "applicant", "shunde", VERIFY),  # an applicant never verifies
        ("province", "province", None, WITHDRAW),
        ("auditor", "auditor", None, REJECT),
        ("operator", "operator", None, RETURN),
        ("shunde-city", "city", "shunde", APPROVE),
    ],
)
def test_forbidden_actor_beats_unknown_application(memory_towns, config, principal, role,
                                                   actor_city, type_):
    desk = drive(memory_towns, config, NO_APPLICATION)
    with refused("forbidden"):
        desk.send(principal, message(type_, "SD-2017-404", "shunde", role, actor_city=actor_city))


@pytest.mark.parametrize(
    "principal, type_, role",
    [
        ("foshan-city", VERIFY, "city"),
        ("guangzhou-applicant-2", WITHDRAW, "applicant"),
        ("foshan-applicant", RESUBMIT, "applicant"),
    ],
)
def test_unknown_application_beats_jurisdiction(memory_towns, config, principal, type_, role):
    desk = drive(memory_towns, config, NO_APPLICATION)
    own_city = config.principals[principal].city
    with refused("unknown_application"):
        desk.send(principal, message(type_, "SD-2017-404", own_city, role))


@pytest.mark.parametrize(
    "state, principal, type_",
    [
        ("approved", "foshan-city", RETURN),  # outside jurisdiction and the wrong state
        ("submitted", "foshan-city", RECOMMEND),
        ("withdrawn", "foshan-city", VERIFY),
        ("lapsed", "foshan-city", VERIFY),
        ("evaluated", "foshan-applicant", RESUBMIT),
        ("withdrawn", "foshan-applicant", WITHDRAW),
    ],
)
def test_jurisdiction_beats_invalid_transition(memory_towns, config, state, principal, type_):
    desk = drive(memory_towns, config, state, "SD-2017-001", "shunde")
    role, own_city = as_itself(config, principal)
    before, log = snapshot(memory_towns, "SD-2017-001"), max_notification_id(memory_towns)
    with refused("forbidden"):
        desk.send(principal, message(type_, "SD-2017-001", "shunde", role, actor_city=own_city))
    assert snapshot(memory_towns, "SD-2017-001") == before
    assert max_notification_id(memory_towns) == log


def test_another_applicant_of_the_same_city_reaches_nothing(memory_towns, config):
    desk = drive(memory_towns, config, "withdrawn", "GZ-2017-001", "guangzhou")
    with refused("forbidden"):  # not invalid_transition: ownership comes first
        desk.send("guangzhou-applicant-2", message(WITHDRAW, "GZ-2017-001", "guangzhou",
                                                   "applicant"))


def wrong_track_resubmission(ref="SD-2017-001", city="shunde") -> dict:
    body = message(RESUBMIT, ref, city, "applicant")
    body["payload"]["indicators"] = indicators("application")  # lacks the industrial fields
    return body


@pytest.mark.parametrize("state", ["submitted", "approved", "withdrawn", "lapsed"])
def test_track_fields_beat_invalid_transition(memory_towns, config, state):
    desk = drive(memory_towns, config, state)
    with refused("schema_invalid") as info:
        desk.send("shunde-applicant", wrong_track_resubmission())
    assert "payload.indicators.backbone_enterprises_200m" in info.value.details


def test_ownership_beats_track_fields(memory_towns, config):
    desk = drive(memory_towns, config, "returned", "FS-2017-001", "foshan")
    with refused("forbidden"):
        desk.send("foshan-applicant-2", wrong_track_resubmission("FS-2017-001", "foshan"))
    with refused("unknown_application"):
        desk.send("foshan-applicant-2", wrong_track_resubmission("FS-2017-404", "foshan"))


def test_deadline_passed_beats_invalid_transition_for_a_second_late_submission(memory_towns,
                                                                              config):
    desk = drive(memory_towns, config, "submitted")
    with refused("deadline_passed"):
        desk.send("shunde-applicant", message(SUBMIT, "SD-2017-001", "shunde", "applicant",
                                              occurred_at=LATE_DATE))
    with refused("invalid_transition"):
        desk.send("shunde-applicant", message(SUBMIT, "SD-2017-001", "shunde", "applicant"))


def test_another_city_in_the_payload_beats_deadline_passed(memory_towns, config):
    desk = drive(memory_towns, config, NO_APPLICATION)
    body = message(SUBMIT, "SD-2017-001", "shunde", "applicant", occurred_at=LATE_DATE)
    body["payload"]["city"] = "foshan"
    with refused("forbidden"):
        desk.send("shunde-applicant", body)


def test_invalid_transition_beats_precondition_failed(memory_towns, config):
    desk = drive(memory_towns, config, "city_verified")
    with refused("invalid_transition"):  # no materials either
        desk.send("province", message(EVALUATE, "SD-2017-001", "shunde", "province"))
    with refused("invalid_transition"):
        desk.send("province", message(
            EVALUATE, "SD-2017-001", "shunde", "province",
            waivers=[{"criterion": "1(3)", "reason": "not a warning"}]))
    with refused("invalid_transition"):
        desk.send("province", message(APPROVE, "SD-2017-001", "shunde", "province"))


@pytest.mark.parametrize(
    "principal, expected",
    [
        ("foshan-city", "forbidden"),  # may not act as Shunde's city
        ("shunde-applicant", "forbidden"),
        ("auditor", "forbidden"),
        ("operator", "forbidden"),
        ("province", "forbidden"),
        (None, "unauthenticated"),
    ],
)
def test_a_repeat_from_someone_not_allowed_is_never_a_duplicate(memory_towns, config, principal,
                                                               expected):
    desk = drive(memory_towns, config, "submitted")
    body = message(VERIFY, "SD-2017-001", "shunde", "city", message_id="m-verify")
    assert desk.send("shunde-city", body).status == "city_verified"
    log = max_notification_id(memory_towns)
    with refused(expected):
        desk.send(principal, body)
    with refused(expected):  # nor a conflict: another body under the same id
        desk.send(principal, {**body, "occurred_at": "2017-03-21T10:00:00+08:00"})
    assert max_notification_id(memory_towns) == log
    again = desk.send("shunde-city", body)
    assert (again.duplicate, again.status, again.version) == (True, "city_verified", 2)
