"""The application service through the ingest path, on SQLite and on the real PostgreSQL."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from adapters.bootstrap import build_towns
from domain import errors
from tests.desk import Desk
from tests.factories import CALL, at, envelope, indicators


@pytest.fixture
def desk(towns, config) -> Desk:
    return Desk(towns, config)


def refused(code: str):
    return pytest.raises(errors.ERROR_CLASSES[code])


def test_an_application_goes_from_submission_to_approval(desk):
    # Given a submission, verification, recommendation and complete materials
    desk.to_recommended()
    desk.province("materials.received")
    # When the province evaluates and approves it
    desk.province("application.evaluated")
    outcome = desk.province("application.approved")
    # Then it is approved after six events
    assert (outcome.status, outcome.version, outcome.duplicate) == ("approved", 6, False)
    app = desk.towns.application(CALL, "SD-2017-001")
    assert [c["outcome"] for c in app.evaluation["criteria"]] == ["pass"] * 7
    assert app.region == "prd" and app.owner == "shunde-applicant"


def test_only_applicants_and_cities_are_recorded_with_a_city(desk):
    """A province actor carries no city (CONTRACT.md §2): one sent anyway is not recorded."""
    desk.to_recommended()
    body = envelope("application.rejected", role="province")
    body["actor"]["city"] = "shenzhen"
    desk.send("province", body)
    actors = [e.actor for e in desk.towns.replay(CALL, "SD-2017-001").events]
    assert [a.get("city") for a in actors] == ["shunde", "shunde", "shunde", None]
    assert actors[-1] == {"role": "province", "id": "u-province", "organisation": "province office"}


def test_a_returned_application_is_resubmitted_and_verified(desk):
    desk.submit()
    desk.city("application.returned")
    assert desk.applicant("application.resubmitted").status == "submitted"
    assert desk.city("application.city_verified").status == "city_verified"


def test_a_repeat_changes_nothing_and_another_body_is_a_conflict(desk):
    body = envelope("application.submitted", message_id="m-1")
    first = desk.send("shunde-applicant", body)
    again = desk.send("shunde-applicant", dict(reversed(list(body.items()))))
    assert (again.status, again.version, again.duplicate) == (first.status, 1, True)
    changed = {**body, "payload": {**body["payload"], "town_name": "Lecong Town"}}
    with refused("idempotency_conflict"):
        desk.send("shunde-applicant", changed)
    assert desk.towns.application(CALL, "SD-2017-001").town_name == "Beijiao Town (北滘镇)"


def test_a_repeat_from_someone_not_allowed_is_forbidden_not_duplicate(desk):
    body = envelope("application.submitted", message_id="m-2")
    desk.send("shunde-applicant", body)
    with refused("forbidden"):
        desk.send("foshan-applicant", body)
    with refused("unauthenticated"):
        desk.send(None, body)


@pytest.mark.parametrize(
    "principal, type_, actor_city",
    [
        ("foshan-city", "application.city_verified", "foshan"),  # Shunde is not Foshan
        ("foshan-city", "application.city_verified", "shunde"),  # acting as another city
        ("shunde-applicant", "application.city_verified", "shunde"),  # role never sends it
        ("province", "application.withdrawn", None),  # nor this one
        ("auditor", "application.rejected", None),
        ("operator", "application.returned", None),
    ],
)
def test_authorisation_refusals(desk, principal, type_, actor_city):
    desk.submit()
    role = desk.config.principals[principal].role
    body = envelope(type_, city=actor_city or "shunde", role=role)
    if actor_city is None:
        body["actor"].pop("city", None)
    with refused("forbidden"):
        desk.send(principal, body)
    assert desk.towns.application(CALL, "SD-2017-001").version == 1


def test_only_the_submitting_applicant_may_withdraw(desk):
    desk.submit("GZ-2017-001", "guangzhou")
    with refused("forbidden"):
        desk.send("guangzhou-applicant-2", envelope("application.withdrawn", "GZ-2017-001", "guangzhou"))
    assert desk.applicant("application.withdrawn", "GZ-2017-001", "guangzhou").status == "withdrawn"


def test_submitting_for_another_city_is_forbidden(desk):
    body = envelope("application.submitted", city="shunde")
    body["payload"]["city"] = "foshan"
    with refused("forbidden"):
        desk.send("shunde-applicant", body)


@pytest.mark.parametrize("late", [False, True], ids=["timely", "late"])
@pytest.mark.parametrize(
    "principal, city",
    [("guangzhou-applicant-2", "guangzhou"), ("shenzhen-applicant", "shenzhen")],
    ids=["same city", "another city"],
)
def test_submitting_someone_elses_existing_application_is_forbidden(desk, principal, city, late):
    """Forbidden comes before deadline_passed and invalid_transition (DOMAIN.md's order), and
    tells nothing of the application's state."""
    desk.submit("GZ-2017-001", "guangzhou")
    body = envelope("application.submitted", "GZ-2017-001", city,
                    occurred_at=at(2, month=4) if late else at(20))
    with refused("forbidden") as refusal:
        desk.send(principal, body)
    assert refusal.value.details == {"application_ref": "GZ-2017-001", "principal": principal}
    assert desk.towns.application(CALL, "GZ-2017-001").version == 1


def test_refusals_of_the_call_the_application_and_the_state(desk):
    with refused("unknown_call"):
        desk.send("shunde-applicant", {**envelope("application.submitted"), "call_id": "GD-2099"})
    with refused("unknown_application"):
        desk.city("application.city_verified", "SD-2017-404")
    with refused("deadline_passed"):
        desk.submit(occurred_at=at(2, month=4))
    desk.submit()
    with refused("invalid_transition"):
        desk.submit()
    with refused("invalid_transition"):
        desk.province("application.approved")


def test_refusal_order_jurisdiction_before_state(desk):
    desk.submit()
    # Foshan approving-style mistakes: outside its jurisdiction AND a wrong state → forbidden wins
    with refused("forbidden"):
        desk.city("application.recommended", city="foshan", ref="SD-2017-001")


def test_resubmission_must_carry_the_application_track_fields(desk):
    desk.submit()
    desk.city("application.returned")
    body = envelope("application.resubmitted", track="application")
    with refused("schema_invalid") as info:
        desk.send("shunde-applicant", body)
    assert "payload.indicators.backbone_enterprises_200m" in info.value.details


def test_evaluation_needs_complete_materials_and_waivers_only_of_warnings(desk):
    desk.to_recommended()
    with refused("precondition_failed"):
        desk.province("application.evaluated")
    desk.province("materials.received", paper_copies=1)
    with refused("precondition_failed"):
        desk.province("application.evaluated")
    desk.province("materials.received", paper_copies=1, electronic_copies=0)
    with refused("precondition_failed"):
        desk.province("application.evaluated", waivers=[{"criterion": "1(3)", "reason": "x"}])
    assert desk.province("application.evaluated").status == "evaluated"


def test_approval_needs_every_warning_waived(desk):
    desk.submit(payload=None)
    desk.city("application.returned")
    desk.applicant("application.resubmitted", indicators=indicators(planned_area_mu=280))
    desk.city("application.city_verified")
    desk.city("application.recommended")
    desk.province("materials.received")
    desk.province("application.evaluated")
    with refused("precondition_failed") as info:
        desk.province("application.approved")
    assert info.value.details == {"clauses": ["1(2)"]}
    waiver = [{"criterion": "1(2)", "reason": "hillside site; the city adds land in 2018"}]
    desk.province("application.evaluated", waivers=waiver)  # a re-evaluation replaces the last
    assert desk.province("application.approved").status == "approved"


def test_the_deadline_lapses_and_timely_evidence_reinstates(desk):
    towns = desk.towns
    desk.to_recommended("SD-2017-001")
    desk.province("materials.received", "SD-2017-001", occurred_at=at(29))
    desk.to_recommended("SD-2017-002")  # no materials by the cutoff
    desk.submit("SD-2017-003")  # never recommended
    # Not due before cutoff + grace
    assert not towns.check_deadline(CALL, datetime.fromisoformat("2017-03-31T23:59:58+08:00")).due
    run = towns.check_deadline(CALL, datetime.fromisoformat("2017-03-31T23:59:59+08:00"))
    assert (run.due, run.checked, run.lapsed) == (True, 3, ["SD-2017-002", "SD-2017-003"])
    assert towns.application(CALL, "SD-2017-002").status == "lapsed"
    # Running it again changes nothing
    again = towns.check_deadline(CALL, datetime.fromisoformat("2017-04-05T00:00:00+08:00"))
    assert again.lapsed == [] and towns.application(CALL, "SD-2017-002").version == 4
    # Evidence dated after the cutoff cannot save it
    with refused("invalid_transition"):
        desk.province("materials.received", "SD-2017-002", occurred_at=at(1, month=4))
    # Timely evidence that arrives late reinstates it in the same transaction
    outcome = desk.province("materials.received", "SD-2017-002", occurred_at=at(30))
    assert (outcome.status, outcome.version) == ("recommended", 6)
    app = towns.application(CALL, "SD-2017-002")
    assert towns.deadline_outcome(app).outcome == "reinstated"
    assert towns.deadline_outcome(towns.application(CALL, "SD-2017-001")).outcome == "on_time"
    assert towns.deadline_outcome(towns.application(CALL, "SD-2017-003")).outcome == "lapsed"
    # A timely submission first recorded after the check lapses at once
    late = desk.submit("SD-2017-004", occurred_at=at(20))
    assert (late.status, late.version) == ("lapsed", 2)


def test_outcomes_before_the_check_and_for_closed_applications(desk):
    towns = desk.towns
    desk.submit("SD-2017-001")
    desk.submit("SD-2017-002")
    desk.applicant("application.withdrawn", "SD-2017-002")
    assert towns.deadline_outcome(towns.application(CALL, "SD-2017-001")).outcome == "pending"
    assert towns.deadline_outcome(towns.application(CALL, "SD-2017-002")).outcome == "not_applicable"


def test_replay_as_of_known_at_and_version(desk):
    towns = desk.towns
    desk.submit(occurred_at=at(5))
    desk.city("application.city_verified", occurred_at=at(8))
    desk.city("application.recommended", occurred_at=at(12))
    before = towns.replay(CALL, "SD-2017-001", as_of=datetime.fromisoformat(at(7)))
    assert (before.state.status, len(before.applied), len(before.events)) == ("submitted", 1, 3)
    assert towns.replay(CALL, "SD-2017-001", version=2).state.status == "city_verified"
    first_recorded = before.events[0].timestamp
    assert towns.replay(CALL, "SD-2017-001", known_at=first_recorded).state.status == "submitted"
    assert towns.replay(CALL, "SD-2017-001", as_of=datetime.fromisoformat(at(1))).state is None
    assert before.chain_break is None


def test_the_deadline_outcome_at_a_point_counts_the_check_only_once_it_had_run(desk):
    """As of a business time before cutoff + grace, or at a version recorded before the check
    ran, the outcome is pending; the lapse counts from the check on."""
    towns = desk.towns
    desk.submit(occurred_at=at(5))
    desk.city("application.city_verified", occurred_at=at(8))
    towns.check_deadline(CALL, datetime.fromisoformat("2017-04-01T00:00:00+08:00"))
    assert towns.application(CALL, "SD-2017-001").status == "lapsed"
    early = towns.replay(CALL, "SD-2017-001", as_of=datetime.fromisoformat(at(20)))
    assert (early.state.status, early.deadline.outcome) == ("city_verified", "pending")
    due = towns.call(CALL).check_due_at
    at_check = towns.replay(CALL, "SD-2017-001", as_of=due)
    assert (at_check.state.status, at_check.deadline.outcome) == ("lapsed", "lapsed")
    assert towns.replay(CALL, "SD-2017-001", as_of=due - timedelta(seconds=1)).deadline.outcome == "pending"
    at_v2 = towns.replay(CALL, "SD-2017-001", version=2)
    assert (at_v2.state.status, at_v2.deadline.outcome) == ("city_verified", "pending")
    assert towns.replay(CALL, "SD-2017-001", version=3).deadline.outcome == "lapsed"


def test_a_reinstatement_counts_only_with_the_lapse_it_ends(desk):
    """Timely materials that arrive after the lapse reinstate it; as of a business time between
    the materials and the check, neither the lapse nor the reinstatement had happened."""
    towns = desk.towns
    desk.to_recommended(submitted_at=at(5), verified_at=at(8), recommended_at=at(12))
    towns.check_deadline(CALL, datetime.fromisoformat("2017-04-01T00:00:00+08:00"))
    desk.province("materials.received", occurred_at=at(29))  # timely, recorded after the lapse
    now = towns.replay(CALL, "SD-2017-001")
    assert [e.EVENT_TYPE for e in now.events][3:] == [
        "application.lapsed", "materials.received", "application.reinstated"]
    assert (now.state.status, now.state.version, now.deadline.outcome) == ("recommended", 6, "reinstated")
    between = towns.replay(CALL, "SD-2017-001", as_of=datetime.fromisoformat(at(30)))
    assert [e.originator_version for e in between.applied] == [1, 2, 3, 5]
    assert (between.state.status, between.state.version) == ("recommended", 4)
    assert (between.state.reinstated, between.deadline.outcome) == (None, "pending")
    before = towns.replay(CALL, "SD-2017-001", as_of=datetime.fromisoformat(at(10)))
    assert (before.state.status, before.state.version, before.deadline.outcome) == (
        "city_verified", 2, "pending")


def test_long_streams_are_snapshotted_and_read_back_the_same(desk):
    towns = desk.towns
    desk.to_recommended()
    for _ in range(55):
        desk.province("materials.received", paper_copies=0, electronic_copies=0)
    snapshots = list(towns.snapshots.get(towns.application(CALL, "SD-2017-001").id))
    assert [s.originator_version for s in snapshots] == [50]
    app = towns.application(CALL, "SD-2017-001")
    assert app.version == 58 and len(app.receipts) == 55
    assert towns.replay(CALL, "SD-2017-001").state.receipts == app.receipts


def test_a_repeat_from_another_applicant_of_the_same_city_is_forbidden(desk):
    body = envelope("application.submitted", "GZ-2017-001", "guangzhou", message_id="m-gz")
    desk.send("guangzhou-applicant", body)
    with refused("forbidden"):
        desk.send("guangzhou-applicant-2", body)
    assert desk.send("guangzhou-applicant", body).duplicate


def test_a_submission_recorded_while_the_candidates_are_chosen_is_still_checked(desk):
    towns = desk.towns
    desk.submit("SD-2017-001", occurred_at=at(5))
    since = towns.recorder.max_notification_id()
    candidates = list(towns.application_ids(CALL))  # as a read model would choose them
    desk.submit("SD-2017-002", occurred_at=at(6))  # recorded meanwhile
    run = towns.check_deadline(CALL, datetime.fromisoformat("2017-04-01T00:00:00+08:00"),
                               candidates, since)
    assert (run.checked, sorted(run.lapsed)) == (2, ["SD-2017-001", "SD-2017-002"])
    assert towns.application(CALL, "SD-2017-002").status == "lapsed"


def test_a_close_committed_after_the_check_it_was_created_before_keeps_the_checks_outcome(
    desk, config, store_url
):
    """The check saw the application open: its outcome is the check's, as the read models
    (log order) say, though the withdrawal's record time is earlier than the check's."""
    towns = desk.towns
    desk.to_recommended(submitted_at=at(5), verified_at=at(8), recommended_at=at(12))
    desk.province("materials.received", occurred_at=at(20))
    other = build_towns(config, store_url)  # another process runs the check meanwhile
    save = towns._save

    def save_after_the_check(work):
        towns._save = save
        other.check_deadline(CALL, datetime.fromisoformat("2017-04-01T00:00:00+08:00"))
        save(work)

    towns._save = save_after_the_check
    try:
        assert desk.applicant("application.withdrawn").status == "withdrawn"
    finally:
        towns._save = save
        other.close()
    app = towns.application(CALL, "SD-2017-001")
    assert app.closed_at < towns.checked_at(towns.call(CALL))  # created first, committed after
    assert towns.deadline_outcome(app).outcome == "on_time"
    assert towns.replay(CALL, "SD-2017-001").deadline.outcome == "on_time"


def test_the_deadline_check_loads_only_the_candidates_it_is_given(desk):
    towns = desk.towns
    desk.submit("SD-2017-001")
    desk.submit("SD-2017-002")
    only = [towns.application(CALL, "SD-2017-002").id]
    run = towns.check_deadline(CALL, datetime.fromisoformat("2017-04-01T00:00:00+08:00"), only)
    assert (run.checked, run.lapsed) == (1, ["SD-2017-002"])
    assert towns.application(CALL, "SD-2017-001").status == "submitted"


def test_the_cache_keeps_applications_not_inbox_markers(desk):
    from domain.applications import application_id
    from domain.inbox import inbox_id

    desk.send("shunde-applicant", envelope("application.submitted", message_id="m-cache"))
    cache = desk.towns._cache
    assert cache.get(application_id(CALL, "SD-2017-001")) is not None
    assert cache.get(inbox_id("m-cache")) is None
