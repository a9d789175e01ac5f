"""The reading endpoints (CONTRACT.md §3) on SQLite and PostgreSQL: who reads what, paging, the
state at a point of the history, the history and its chain, the deadline report, audit verify."""

from __future__ import annotations

import dataclasses
from urllib.parse import quote
import json
from datetime import datetime

import pytest

from adapters.http import create_app
from adapters.views import application_view, event_view
from domain import errors
from domain.principals import Principal
from projections.applications import criteria_outcome
from projections.registry import projections
from projections.runner import ProjectionRunner
from projections.store import ViewStore
from tests.desk import Desk
from tests.factories import CALL, CST, at, envelope
from tests.integration.test_audit import position_of, tamper
from tests.support import eventually

ALL = {"FS-2017-001", "GZ-2017-001", "SD-2017-001", "SD-2017-002", "SD-2017-003"}
SHUNDE = {"SD-2017-001", "SD-2017-002", "SD-2017-003"}
GUANGZHOU = {"GZ-2017-001"}
APP = f"/api/v1/applications/{CALL}/SD-2017-001"
CHECK_AS_OF = datetime(2017, 4, 1, 12, tzinfo=CST)  # after cutoff + grace
ECHO = ("as_of", "known_at", "version_asked", "counted_versions", "chain_intact", "chain_break")


@dataclasses.dataclass
class Reads:
    towns: object
    runner: ProjectionRunner
    client: object
    desk: Desk

    def get(self, path: str, who: str | None = None, **query):
        headers = {}
        if who == "bad":
            headers["Authorization"] = "Bearer not-a-token"
        elif who is not None:
            headers["Authorization"] = f"Bearer demo-{who}"
        return self.client.get(path, headers=headers, query_string=query)

    def ok(self, path: str, who: str = "province", **query) -> dict:
        response = self.get(path, who, **query)
        assert response.status_code == 200, response.get_data(as_text=True)
        return response.get_json()

    def catch_up(self) -> None:
        self.runner.catch_up_all()

    def verdict(self, who: str = "province") -> dict:
        """The audit verdict, once the verification the first request starts has completed."""
        def completed():
            body = self.ok("/api/v1/audit/verify", who)
            return body if body["state"] != "pending" else None
        return eventually(completed, 60, what="a completed audit verification")


def error_of(response, status: int, code: str) -> dict:
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.headers["x-towns-error"] == code
    body = response.get_json()
    assert set(body) == {"error"} and body["error"]["code"] == code
    return body["error"]


@pytest.fixture
def config_two_applicants(config):
    """The shipped principals and a second applicant desk of Shunde."""
    second = Principal(name="shunde-applicant-2", role="applicant", organisation="second desk",
                       city="shunde", token="demo-shunde-applicant-2")
    return dataclasses.replace(config, principals={**config.principals, second.name: second})


@pytest.fixture
def reads(towns, config_two_applicants, store_url):
    store = ViewStore(store_url)
    runner = ProjectionRunner(towns, store, projections())
    runner.setup()
    app = create_app(towns, config_two_applicants, runner)
    yield Reads(towns, runner, app.test_client(), Desk(towns, config_two_applicants))
    store.close()


@pytest.fixture
def history(reads) -> Reads:
    """Five applications of four paths in three cities, projected."""
    desk = reads.desk
    desk.to_evaluated("SD-2017-001")
    desk.province("application.approved", "SD-2017-001")
    desk.submit("SD-2017-002", track="application", occurred_at=at(5))
    desk.city("application.city_verified", "SD-2017-002", occurred_at=at(6))
    desk.city("application.recommended", "SD-2017-002", occurred_at=at(7))
    desk.submit("SD-2017-003", occurred_at=at(8))
    desk.city("application.returned", "SD-2017-003", occurred_at=at(9))
    desk.submit("FS-2017-001", "foshan")
    desk.applicant("application.withdrawn", "FS-2017-001", "foshan")
    desk.to_recommended("GZ-2017-001", "guangzhou")
    reads.catch_up()
    return reads


def refs(body: dict) -> set[str]:
    return {item["application_ref"] for item in body["items"]}


# -- who reads what ------------------------------------------------------------------------------

LIST = {"province": ALL, "auditor": ALL, "shunde-city": SHUNDE, "guangzhou-city": GUANGZHOU,
        "shunde-applicant": SHUNDE, "guangzhou-applicant": GUANGZHOU}
ONE_APPLICATION = {"province": 200, "auditor": 200, "shunde-city": 200, "guangzhou-city": 404,
                   "shunde-applicant": 200, "guangzhou-applicant": 404, "operator": 403}
VERIFY = {"province": 200, "auditor": 200}


@pytest.mark.parametrize("who", [None, "bad", "province", "auditor", "shunde-city",
                                 "guangzhou-city", "shunde-applicant", "guangzhou-applicant",
                                 "operator"])
def test_every_endpoint_answers_each_caller_by_role_and_reach(history, who):
    # Given five applications in Shunde, Foshan and Guangzhou, projected
    endpoints = {
        "list": "/api/v1/applications",
        "application": APP,
        "history": f"{APP}/history",
        "report": f"/api/v1/calls/{CALL}/deadline-report",
        "verify": "/api/v1/audit/verify",
    }
    for name, path in endpoints.items():
        # When the caller asks
        response = history.get(path, who)
        # Then no or an unknown token is 401; operators read nothing; cities and applicants
        # see their own, lists filtered and another's application as one that does not exist
        if who in (None, "bad"):
            error_of(response, 401, "unauthenticated")
            assert response.headers["WWW-Authenticate"].startswith("Bearer")
        elif name in ("list", "report"):
            if who == "operator":
                error_of(response, 403, "forbidden")
            else:
                assert response.status_code == 200
                assert refs(response.get_json()) == LIST[who], name
        elif name == "verify":
            if who in VERIFY:  # answered at once; the verdict itself comes later
                assert response.status_code == 200 and response.get_json()["state"] == "pending"
                assert history.verdict(who)["ok"] is True
            else:
                error_of(response, 403, "forbidden")
        elif ONE_APPLICATION[who] == 200:
            assert response.status_code == 200, (name, response.get_json())
        elif ONE_APPLICATION[who] == 404:
            error_of(response, 404, "unknown_application")
        else:
            error_of(response, 403, "forbidden")


@pytest.mark.parametrize(
    "ref", ["SD/2017/901", "SD 2017?#%901", "SD//2017", "/SD-1", "SD-1/", "a/history/b", "history"])
def test_a_ref_with_slashes_or_reserved_characters_is_read_like_any_other(reads, ref):
    reads.desk.submit(ref)
    path = f"/api/v1/applications/{CALL}/{quote(ref, safe='')}"
    state = reads.ok(path)
    assert (state["application_ref"], state["status"], state["version"]) == (ref, "submitted", 1)
    assert [e["type"] for e in reads.ok(f"{path}/history")["items"]] == ["application.submitted"]
    assert reads.ok(f"{path}/history", version=1)["items"][0]["version"] == 1
    error_of(reads.get(f"/api/v1/applications/{CALL}/SD%2F2017%2F404", "province"),
             404, "unknown_application")


@pytest.mark.parametrize("ref", ["SD/history", ".", ".."])
def test_a_ref_no_path_could_name_is_refused(reads, ref):
    with pytest.raises(errors.SchemaInvalid) as caught:
        reads.desk.submit(ref)
    assert caught.value.details == {"application_ref": "may not be . or .., nor end in /history"}


def test_the_ref_rule_leaves_applications_recorded_before_it_their_events(reads):
    """Only a new application's ref is held to it: an envelope of a later event is not refused
    for its ref (it meets unknown_application here, not schema_invalid)."""
    with pytest.raises(errors.UnknownApplication):
        reads.desk.city("application.city_verified", "SD/history")


def test_credentials_are_checked_before_arguments(history):
    error_of(history.get("/api/v1/applications", None, limit=0), 401, "unauthenticated")
    error_of(history.get("/api/v1/applications", "operator", limit=0), 403, "forbidden")
    error_of(history.get(APP, "bad", as_of="yesterday"), 401, "unauthenticated")


def test_cities_and_applicants_asking_for_another_city_get_an_empty_list(history):
    for who in ("shunde-city", "shunde-applicant"):
        assert history.ok("/api/v1/applications", who, city="guangzhou") == {
            "items": [], "next_cursor": None}
        assert refs(history.ok("/api/v1/applications", who, city="shunde")) == SHUNDE
    assert refs(history.ok("/api/v1/applications", "auditor", city="guangzhou")) == GUANGZHOU


def test_an_applicant_reads_only_the_applications_it_submitted(history):
    # Given a second applicant desk of Shunde with an application of its own
    history.desk.send("shunde-applicant-2", envelope("application.submitted", "SD-2017-009"))
    history.desk.send("shunde-applicant-2", envelope("application.submitted", "SD-2017-010"))
    history.catch_up()
    path = f"/api/v1/applications/{CALL}/SD-2017-009"
    # Then each desk lists and reads its own only, page by page too
    assert refs(history.ok("/api/v1/applications", "shunde-applicant")) == SHUNDE
    pages, cursor = [], None
    while True:
        body = history.ok("/api/v1/applications", "shunde-applicant-2", limit=1,
                          **({"cursor": cursor} if cursor else {}))
        pages.append(refs(body))
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert pages == [{"SD-2017-009"}, {"SD-2017-010"}]
    assert history.ok(path, "shunde-applicant-2")["application_ref"] == "SD-2017-009"
    error_of(history.get(path, "shunde-applicant"), 404, "unknown_application")
    error_of(history.get(f"{path}/history", "shunde-applicant"), 404, "unknown_application")
    error_of(history.get(APP, "shunde-applicant-2"), 404, "unknown_application")
    assert history.ok(path, "shunde-city")["application_ref"] == "SD-2017-009"
    report = history.ok(f"/api/v1/calls/{CALL}/deadline-report", "shunde-applicant-2")
    assert refs(report) == {"SD-2017-009", "SD-2017-010"}


# -- the list ------------------------------------------------------------------------------------

def test_list_items_agree_with_the_applications_they_summarise(history):
    body = history.ok("/api/v1/applications")
    assert body["next_cursor"] is None and refs(body) == ALL
    for item in body["items"]:
        view = application_view(app := history.towns.application(CALL, item["application_ref"]),
                                history.towns.deadline_outcome(app))
        for key in ("call_id", "application_ref", "status", "version", "town_name", "city",
                    "region", "track", "updated_at", "deadline", "score"):
            assert item[key] == view[key], key
        assert item["criteria_outcome"] == criteria_outcome(view["criteria"])
        assert item["recorded_at"]
    first = next(i for i in body["items"] if i["application_ref"] == "SD-2017-001")
    assert (first["status"], first["score"], first["region"]) == ("approved", 88, "prd")
    assert first["deadline"] == {"outcome": "pending", "detail": "the deadline check has not run"}


def test_filters_combine_and_bad_ones_are_schema_invalid_with_their_field(history):
    assert refs(history.ok("/api/v1/applications", status="returned")) == {"SD-2017-003"}
    assert refs(history.ok("/api/v1/applications", track="application")) == {"SD-2017-002"}
    assert refs(history.ok("/api/v1/applications", city="shunde", status="approved",
                           call_id=CALL)) == {"SD-2017-001"}
    assert refs(history.ok("/api/v1/applications", city="zhuhai")) == set()
    for field, value in [("status", "pending"), ("city", "atlantis"), ("track", "rail"),
                         ("limit", "0"), ("limit", "501"), ("limit", "many")]:
        error = error_of(history.get("/api/v1/applications", "province", **{field: value}),
                         422, "schema_invalid")
        assert set(error["details"]) == {field}
    error_of(history.get("/api/v1/applications", "province", call_id="GD-NOPE"), 422,
             "unknown_call")


def test_a_reference_prefix_finds_applications_by_ref_within_the_callers_reach(history):
    assert refs(history.ok("/api/v1/applications", ref_prefix="SD-2017-00")) == SHUNDE
    assert refs(history.ok("/api/v1/applications", ref_prefix="GZ-2017-001",
                           call_id=CALL)) == {"GZ-2017-001"}
    assert refs(history.ok("/api/v1/applications", ref_prefix="SD-2017-00",
                           status="returned")) == {"SD-2017-003"}
    # case-sensitive, and a prefix is text: no wildcard of SQL's LIKE
    for absent in ("sd-2017", "SD-2017-0%", "SD_2017", "SD-2017-0011"):
        assert history.ok("/api/v1/applications", ref_prefix=absent)["items"] == [], absent
    # bounded: at most limit items a page, the rest behind next_cursor
    first = history.ok("/api/v1/applications", ref_prefix="SD-", limit=2)
    assert len(first["items"]) == 2 and first["next_cursor"]
    rest = history.ok("/api/v1/applications", ref_prefix="SD-", limit=2,
                      cursor=first["next_cursor"])
    assert refs(first) | refs(rest) == SHUNDE and rest["next_cursor"] is None
    # within the caller's reach only
    assert history.ok("/api/v1/applications", "guangzhou-city", ref_prefix="SD-")["items"] == []
    assert refs(history.ok("/api/v1/applications", "shunde-applicant", ref_prefix="SD-2017-002")) \
        == {"SD-2017-002"}
    for bad in ("", "x" * 129):
        error = error_of(history.get("/api/v1/applications", "province", ref_prefix=bad), 422,
                         "schema_invalid")
        assert set(error["details"]) == {"ref_prefix"}


def test_pages_of_two_cover_five_applications_without_gaps_or_repeats(history):
    whole = [i["application_ref"] for i in history.ok("/api/v1/applications")["items"]]
    pages, cursor = [], None
    while True:
        body = history.ok("/api/v1/applications", limit=2, **({"cursor": cursor} if cursor else {}))
        pages.append([i["application_ref"] for i in body["items"]])
        cursor = body["next_cursor"]
        if cursor is None:
            break
        assert isinstance(cursor, str)
    assert [len(p) for p in pages] == [2, 2, 1]
    assert [ref for page in pages for ref in page] == whole and set(whole) == ALL


def test_a_tampered_cursor_is_schema_invalid(history):
    cursor = history.ok("/api/v1/applications", limit=2)["next_cursor"]
    middle = len(cursor) // 2
    changed = cursor[:middle] + ("A" if cursor[middle] != "A" else "B") + cursor[middle + 1:]
    for bad in (changed, cursor[:-3], "not-a-cursor", "!!!"):
        error = error_of(history.get("/api/v1/applications", "province", cursor=bad), 422,
                         "schema_invalid")
        assert set(error["details"]) == {"cursor"}


def test_the_list_reads_the_read_model_as_it_stands(history):
    history.desk.submit("SD-2017-004")
    assert "SD-2017-004" not in refs(history.ok("/api/v1/applications"))
    history.catch_up()
    assert "SD-2017-004" in refs(history.ok("/api/v1/applications"))


def test_an_app_without_a_runner_reads_the_services_own_database(towns, config, store_url,
                                                                 http_client):
    Desk(towns, config).submit("SD-2017-001")
    assert http_client.get("/api/v1/applications", headers={
        "Authorization": "Bearer demo-province"}).get_json()["items"] == []
    store = ViewStore(store_url)
    ProjectionRunner(towns, store, projections()).catch_up_all()
    store.close()
    body = http_client.get("/api/v1/applications",
                           headers={"Authorization": "Bearer demo-province"}).get_json()
    assert refs(body) == {"SD-2017-001"}


# -- one application at a point of its history ---------------------------------------------------

def replayed(towns, ref: str, **point) -> dict:
    replay = towns.replay(CALL, ref, **point)
    return application_view(replay.state, replay.deadline)


def without_echo(body: dict) -> dict:
    return {k: v for k, v in body.items() if k not in ECHO}


def test_the_current_state_is_the_replayed_one(history):
    body = history.ok(APP, "shunde-city")
    assert without_echo(body) == replayed(history.towns, "SD-2017-001")
    assert body["status"] == "approved" and body["criteria"] and body["chain_intact"] is True
    assert (body["as_of"], body["known_at"], body["version_asked"]) == (None, None, None)
    assert body["counted_versions"] == list(range(1, body["version"] + 1))


def test_as_of_known_at_and_version_answer_what_the_replay_does(history):
    ref = "SD-2017-002"
    path = f"/api/v1/applications/{CALL}/{ref}"
    towns = history.towns
    for day, status in ((5, "submitted"), (6, "city_verified"), (7, "recommended")):
        as_of = datetime(2017, 3, day, 12, tzinfo=CST)
        body = history.ok(path, as_of=as_of.isoformat())
        assert without_echo(body) == replayed(towns, ref, as_of=as_of)
        assert body["status"] == status and body["as_of"] == as_of.isoformat()
        assert body["counted_versions"] == [
            e.originator_version for e in towns.replay(CALL, ref, as_of=as_of).applied]
    recorded = [e["recorded_at"] for e in history.ok(f"{path}/history")["items"]]
    known_at = datetime.fromisoformat(recorded[1])
    body = history.ok(path, known_at=recorded[1])
    assert without_echo(body) == replayed(towns, ref, known_at=known_at)
    assert (body["version"], body["known_at"]) == (2, known_at.isoformat())
    for version in (1, 2, 3, 99):
        body = history.ok(path, version=version)
        assert without_echo(body) == replayed(towns, ref, version=version)
        assert body["version_asked"] == version and body["version"] == min(version, 3)
    as_of = datetime(2017, 3, 7, 12, tzinfo=CST)
    body = history.ok(path, as_of=as_of.isoformat(), version=2)
    assert without_echo(body) == replayed(towns, ref, as_of=as_of, version=2)


def test_an_unencoded_plus_in_an_offset_is_read_as_one(history):
    path = f"/api/v1/applications/{CALL}/SD-2017-002"
    body = history.client.get(f"{path}?as_of=2017-03-06T12:00:00+08:00",
                              headers={"Authorization": "Bearer demo-province"}).get_json()
    assert body["status"] == "city_verified" and body["as_of"] == "2017-03-06T12:00:00+08:00"


def test_before_it_existed_it_is_unknown_and_bad_points_are_schema_invalid(history):
    path = f"/api/v1/applications/{CALL}/SD-2017-002"
    error = error_of(history.get(path, "province", as_of=at(1)), 404, "unknown_application")
    assert "did not exist yet" in error["message"]
    error = error_of(history.get(path, "province", known_at="2000-01-01T00:00:00+00:00"), 404,
                     "unknown_application")
    assert "did not exist yet" in error["message"]
    for field, value in [("as_of", "2017-03-06T12:00:00"), ("known_at", "last week"),
                         ("version", "0"), ("version", "two")]:
        error = error_of(history.get(path, "province", **{field: value}), 422, "schema_invalid")
        assert set(error["details"]) == {field}
    error_of(history.get(f"/api/v1/applications/{CALL}/SD-2099-001", "province"), 404,
             "unknown_application")
    error_of(history.get("/api/v1/applications/GD-NOPE/SD-2017-001", "province"), 422,
             "unknown_call")


# -- the history ---------------------------------------------------------------------------------

def test_the_history_is_every_event_with_an_intact_chain(history):
    body = history.ok(f"{APP}/history", "auditor")
    expected = [event_view(e) for e in history.towns.replay(CALL, "SD-2017-001").events]
    assert body["items"] == json.loads(json.dumps(expected))
    assert [e["version"] for e in body["items"]] == list(range(1, len(expected) + 1))
    assert body["items"][0]["type"] == "application.submitted"
    assert body["items"][1]["prev_hash"] == body["items"][0]["hash"]
    assert (body["chain_intact"], body["first_break"]) == (True, None)
    error_of(history.get(f"/api/v1/applications/{CALL}/SD-2099-001/history", "province"), 404,
             "unknown_application")


def test_a_changed_byte_breaks_the_chain_the_history_and_the_application_show(history):
    # Given the returned event of SD-2017-003 changed in the store
    tamper(history.runner, position_of(history.towns, "SD-2017-003", 2), b"zone map", b"Z")
    path = f"/api/v1/applications/{CALL}/SD-2017-003"
    # Then both say where the chain stops holding
    body = history.ok(f"{path}/history")
    assert body["chain_intact"] is False and body["first_break"]["version"] == 2
    application = history.ok(path)
    assert application["chain_intact"] is False and application["chain_break"]["version"] == 2
    verdict = history.verdict("auditor")
    assert verdict["ok"] is False and verdict["first_break"]["application_ref"] == "SD-2017-003"


# -- the deadline report and audit verify --------------------------------------------------------

def report_of(reads: Reads, who: str = "province") -> dict:
    return reads.ok(f"/api/v1/calls/{CALL}/deadline-report", who)


def test_the_deadline_report_before_and_after_the_check(history):
    before = report_of(history)
    assert before["call_id"] == CALL and before["checked"] is False
    assert before["cutoff"] == "2017-03-30T23:59:59+08:00"
    assert {r["application_ref"]: r["outcome"] for r in before["items"]} == {
        "FS-2017-001": "not_applicable", "GZ-2017-001": "pending", "SD-2017-001": "pending",
        "SD-2017-002": "pending", "SD-2017-003": "pending"}
    # When the check runs and timely materials then reinstate Guangzhou's lapsed application
    history.towns.check_deadline(CALL, CHECK_AS_OF)
    history.desk.province("materials.received", "GZ-2017-001", "guangzhou", occurred_at=at(20))
    history.catch_up()
    after = report_of(history)
    rows = {r["application_ref"]: r for r in after["items"]}
    assert after["checked"] is True
    assert {ref: r["outcome"] for ref, r in rows.items()} == {
        "FS-2017-001": "not_applicable", "GZ-2017-001": "reinstated", "SD-2017-001": "on_time",
        "SD-2017-002": "lapsed", "SD-2017-003": "lapsed"}
    for ref, row in rows.items():
        app = history.towns.application(CALL, ref)
        outcome = history.towns.deadline_outcome(app)
        assert (row["status"], row["outcome"], row["detail"]) == (
            app.status, outcome.outcome, outcome.detail)
    assert rows["SD-2017-001"]["materials_received_at"] == at(10)
    assert rows["SD-2017-002"]["materials_received_at"] is None
    lapse = rows["SD-2017-002"]["evidence"]["lapse"]
    assert any("paper copies" in m for m in lapse["missing"])
    gz = rows["GZ-2017-001"]["evidence"]
    assert gz["lapse"] and gz["reinstated"] and gz["receipts"][0]["occurred_at"] == at(20)
    assert refs(report_of(history, "guangzhou-applicant")) == GUANGZHOU
    error_of(history.get("/api/v1/calls/GD-NOPE/deadline-report", "province"), 422,
             "unknown_call")


def test_audit_verify_answers_the_verdict_of_the_whole_log(history):
    head = history.towns.recorder.max_notification_id()
    first = history.ok("/api/v1/audit/verify", "province")
    assert first["state"] == "pending" and first["ok"] is None and first["running"] is True
    body = history.verdict()
    assert body["state"] == "verified" and body["verified_at"] and body["running"] is False
    assert body["ok"] is True and body["first_break"] is None and body["breaks"] == []
    assert body["events_checked"] == body["checked_to"] == body["head_at_start"] == head
    assert body["applications_checked"] == 5


# -- the document --------------------------------------------------------------------------------

def test_every_read_is_documented_with_its_schema_security_and_refusals(history):
    spec = history.client.get("/api/v1/openapi.json").get_json()
    paths = {
        "/api/v1/applications": {"call_id", "status", "city", "track", "ref_prefix", "limit",
                                  "cursor"},
        "/api/v1/applications/{call_id}/{ref}": {"as_of", "known_at", "version"},
        "/api/v1/applications/{call_id}/{ref}/history": set(),
        "/api/v1/calls/{call_id}/deadline-report": set(),
        "/api/v1/audit/verify": set(),
    }
    for path, query in paths.items():
        operation = spec["paths"][path]["get"]
        assert operation["security"] == [{"bearerAuth": []}], path
        assert {"200", "401", "403"} <= set(operation["responses"]), path
        ok = operation["responses"]["200"]["content"]["application/json"]["schema"]
        assert "$ref" in ok, path
        documented = {p["name"] for p in operation.get("parameters", []) if p["in"] == "query"}
        assert documented == query, path
    schemas = spec["components"]["schemas"]
    assert {"SummaryPage", "Summary", "Application", "History", "Event", "DeadlineReport",
            "Verify"} <= set(schemas)
    assert "next_cursor" in schemas["SummaryPage"]["properties"]

