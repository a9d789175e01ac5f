"""The operators' incidents, charts, re-drive history and session, on SQLite and PostgreSQL
(no RabbitMQ: nothing here re-drives): what ``GET /api/v1/ops/incidents``,
``/api/v1/ops/charts``, ``/api/v1/ops/dead-letters/codes``, ``/api/v1/ops/redrives`` and
``GET /api/v1/session`` answer from what the service keeps; the lag samples' table; roles."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from adapters.http import create_app
from adapters.ops import lag_samples
from adapters.store.inbound_records import InboundRecords
from tests.factories import CALL
from tests.hostile.test_poison_events import damaged_submission
from workers import failures

OPERATOR = {"Authorization": "Bearer demo-operator"}
NEW_OPS = ("/api/v1/ops/incidents", "/api/v1/ops/charts", "/api/v1/ops/dead-letters/codes",
           "/api/v1/ops/redrives", "/api/v1/ops/redrives/5f0e5e6e-1f1a-4c55-9d5a-6a4c0f8b8c11")


def bearer(name: str) -> dict:
    return {"Authorization": f"Bearer demo-{name}"}


def dead_letter(towns, key: str, code: str) -> None:
    InboundRecords(towns).dead_letter(
        key, key, code, f"refused: {code}", json.dumps({"message_id": key}).encode(),
        "province", "application.archived", datetime(2017, 3, 31, 10, 0, tzinfo=UTC))


@pytest.fixture
def poisoned(config, store_url, monkeypatch):
    """A runtime whose views set aside one damaged submission, with a worker failure recorded
    and three open dead letters (two codes)."""
    monkeypatch.delenv("TOWNS_AMQP_URL", raising=False)
    runtime, poison = damaged_submission(config, store_url)
    runtime.drain()
    failures.record(runtime.store, failures.WorkerFailure(
        "m-1", "check_deadline", "towns.deadlines", [CALL, "2017-03-30T23:59:59+08:00"], 3,
        "OperationalError: the database went away", datetime.now(UTC).isoformat()))
    for key, code in (("dl-1", "unknown_type"), ("dl-2", "unknown_type"), ("dl-3", "forbidden")):
        dead_letter(runtime.towns, key, code)
    runtime.poison = poison
    yield runtime
    runtime.close()


def test_incidents_show_set_aside_events_worker_failures_and_dead_letters_by_code(poisoned, config):
    client = create_app(poisoned.towns, config, poisoned.runner).test_client()

    found = client.get("/api/v1/ops/incidents", headers=OPERATOR)

    assert found.status_code == 200, found.get_data(as_text=True)
    body = found.get_json()
    # each read model, which set the damaged event aside
    views = {p["name"]: p for p in body["projections"]}
    assert set(views) == {"summaries", "deadline_report", "audit", "pipeline"}
    assert all(p["set_aside"] == 1 and p["state"] in ("set_aside", "lagging") for p in views.values())
    assert body["set_aside_open"] == 4
    assert {(s["name"], s["position"]) for s in body["set_aside"]} == {
        (name, poisoned.poison.id) for name in views}
    assert all(s["reason"] and s["topic"] == "towns:Application.Submitted" for s in body["set_aside"])
    assert not any("state" in s or "data" in s for s in body["set_aside"])  # never its data
    # the worker's failure, and the dead letters by code, most first
    [failure] = body["worker_failures"]
    assert (failure["actor"], failure["retries"]) == ("check_deadline", 3)
    assert "database went away" in failure["error"] and body["worker_failures_total"] == 1
    assert body["dead_letters"]["by_code"] == [{"code": "unknown_type", "count": 2},
                                              {"code": "forbidden", "count": 1}]
    assert body["dead_letters"]["open"] == 3 and body["parked"] == 0
    assert body["count"] >= 4 + 1 + 3
    codes = client.get("/api/v1/ops/dead-letters/codes", headers=OPERATOR).get_json()
    assert codes == {"open": 3, "codes": {"unknown_type": 2, "forbidden": 1},
                     "not_redrivable": 0, "truncated": False}


def test_a_stalled_read_model_is_told_from_one_catching_up(poisoned, config):
    # Given lag samples of five minutes in which the summaries did not move while behind
    poisoned.drain()  # the nudges of the fixture's own writes are done
    now = datetime.now(UTC)
    store = poisoned.store
    lag_samples.setup(store)
    with store.transaction() as tx:
        for minutes in range(1, 6):
            tx.execute("INSERT INTO projection_lag_samples (name, minute, lag, position, head, "
                       "sampled_at) VALUES (?, ?, ?, ?, ?, ?)",
                       ("summaries", lag_samples.minute_of(now - timedelta(minutes=minutes)), 4,
                        1, 5, now.isoformat()))
        tx.execute("UPDATE projection_positions SET position = 1 WHERE name = ?", ("summaries",))
    client = create_app(poisoned.towns, config, poisoned.runner).test_client()
    views = {p["name"]: p for p in
             client.get("/api/v1/ops/incidents", headers=OPERATOR).get_json()["projections"]}
    assert views["summaries"]["state"] == "stalled" and views["summaries"]["lag"] > 0
    assert views["pipeline"]["state"] == "set_aside"


def test_charts_count_ingest_refusals_and_lag_per_minute(poisoned, config):
    client = create_app(poisoned.towns, config, poisoned.runner).test_client()

    charts = client.get("/api/v1/ops/charts?minutes=60", headers=OPERATOR).get_json()

    assert len(charts["minutes"]) == len(charts["ingest"]) == len(charts["refusals"]) == 60
    assert charts["bucket_seconds"] == 60 and charts["from"] < charts["to"]
    applied = poisoned.runner.status()[0].head
    # the audit trail's rows: every application event but the one it set aside
    events = sum(1 for n in poisoned.towns.recorder.select_notifications(0, 1000)
                 if n.topic.startswith("towns:Application."))
    assert sum(charts["ingest"]) == events - 1 and applied > events
    assert sum(charts["refusals"]) == 3
    assert charts["refusals"][-1] + charts["refusals"][-2] == 3  # recorded just now
    # a sample taken now for each read model, in the last bucket
    assert set(charts["lag"]) == {"summaries", "deadline_report", "audit", "pipeline"}
    assert all(series[-1] is not None and len(series) == 60 for series in charts["lag"].values())
    assert client.get("/api/v1/ops/charts?minutes=2", headers=OPERATOR).status_code == 422
    assert client.get("/api/v1/ops/charts?minutes=5000", headers=OPERATOR).status_code == 422


def test_lag_samples_keep_one_row_per_minute_and_a_day_at_most(poisoned):
    runner = poisoned.runner
    now = datetime(2026, 12, 7, 10, 30, 15, tzinfo=UTC)
    assert lag_samples.record(runner, now - timedelta(hours=30)) == 4
    assert lag_samples.record(runner, now) == 4
    assert lag_samples.record(runner, now + timedelta(seconds=30)) == 4  # the same minute
    with runner.store.transaction(read_only=True) as tx:
        rows = tx.all("SELECT name, minute FROM projection_lag_samples ORDER BY name, minute")
    assert len(rows) == 4 and {minute for _, minute in rows} == {"2026-12-07T10:30:00+00:00"}
    series = lag_samples.series(runner, now - timedelta(minutes=10))
    assert {name: [row["minute"] for row in rows] for name, rows in series.items()} == {
        name: ["2026-12-07T10:30:00+00:00"] for name in ("summaries", "deadline_report", "audit", "pipeline")}


def test_the_history_lists_re_drives_recorded_in_the_log(poisoned, config):
    from adapters.audit.evidence.actions import record_action
    from domain.operations import REDRIVE

    records = InboundRecords(poisoned.towns)
    letter = records.dead_letters()[0]
    record_action(poisoned.towns, REDRIVE, "operator", "a test", {
        "all": False, "letters": [str(letter.id)], "count": 1})
    records.requeued(letter.id, "operator")
    client = create_app(poisoned.towns, config, poisoned.runner).test_client()
    [item] = client.get("/api/v1/ops/redrives", headers=OPERATOR).get_json()["items"]
    assert (item["by"], item["reason"], item["count"]) == ("operator", "a test", 1)
    # nothing consumed it yet: pending, and it says by whom and when it went
    [followed] = item["letters"]
    assert followed["message_id"] == letter.message_id
    assert followed["outcome"]["state"] == "pending" and followed["outcome"]["by"] == "operator"
    assert item["outcomes"] == {"pending": 1}


@pytest.mark.parametrize("name, panels", [
    ("operator", ["incidents", "charts", "queues", "redrives"]),
    ("province", ["audit", "pipeline", "applications", "timeline", "deadlines"]),
    ("auditor", ["audit", "pipeline", "applications", "timeline", "deadlines"]),
    ("guangzhou-city", ["pipeline", "applications", "timeline", "deadlines"]),
    ("guangzhou-applicant", ["pipeline", "applications", "timeline", "deadlines"]),
])
def test_the_session_names_the_caller_and_the_panels_of_its_role(sqlite_towns, config, name, panels):
    client = create_app(sqlite_towns, config).test_client()
    answer = client.get("/api/v1/session", headers=bearer(name))
    assert answer.status_code == 200
    body = answer.get_json()
    assert (body["principal"], body["panels"]) == (name, panels)
    assert body["role"] == config.principals[name].role
    assert client.get("/api/v1/session").status_code == 401
    assert client.get("/api/v1/session", headers=bearer("nobody")).status_code == 401


@pytest.mark.parametrize("path", NEW_OPS)
def test_only_operators_use_the_new_ops_endpoints(sqlite_towns, config, path):
    client = create_app(sqlite_towns, config).test_client()
    assert client.get(path).status_code == 401
    for name in ("province", "auditor", "guangzhou-city", "guangzhou-applicant"):
        answer = client.get(path, headers=bearer(name))
        assert answer.status_code == 403, (name, path)
        assert answer.get_json()["error"]["code"] == "forbidden"
