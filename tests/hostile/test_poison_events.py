"""Stored events a read model cannot take, on SQLite and PostgreSQL: none stops a read model.

Ingest refuses a NUL anywhere in a message now, but events stored before stay in the log for
good. A NUL (which PostgreSQL's text cannot hold) in a town name, a reference or a message id
is taken by every view, shown as U+FFFD in its text columns (the JSON state and the hashes keep
the value). A record that no view can read (its stored bytes damaged) is set aside by each view
with the reason, counted by ``towns projections status``, ``/metrics`` and the operators' API,
and taken once it is mended and retried. The workers go on past both: no retries, no failures.
"""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
from pathlib import Path

import pytest

from adapters.audit.export import check_export, export
from adapters.audit.verify import verify
from adapters.bootstrap import build_runtime, build_towns
from adapters.http import create_app
from adapters.store.inbound_records import InboundRecords
from adapters.inbound.ingest import prepare
from adapters.ops.metrics import exposition
from domain.applications import application_id
from projections import queries
from projections.store import ViewStore
from tests.desk import Desk
from tests.factories import CALL, encode, envelope
from tests.views import assert_caught_up, assert_equal_to_rebuild
from workers import failures

ROOT = Path(__file__).resolve().parents[2]
VIEWS = ("summaries", "deadline_report", "audit", "pipeline")
OPERATOR = {"Authorization": "Bearer demo-operator"}


@pytest.fixture
def runtime(config, store_url):
    runtime = build_runtime(config, store_url)
    yield runtime
    runtime.close()


def store_with_nul(towns, config, ref: str, field: str) -> None:
    """A submission stored through the application service with a NUL in ``field`` (town_name,
    application_ref or message_id): under the ingest path, which refuses it now."""
    who = config.principals["shunde-applicant"]
    command = prepare(encode(envelope("application.submitted", ref)), who)
    if field == "town_name":
        payload = {**command.payload, "town_name": "Town\x00X"}
        command = dataclasses.replace(command, payload=payload)
    else:
        command = dataclasses.replace(command, **{field: getattr(command, field) + "\x00X"})
    towns.handle(command, who)


def refs(store, table: str = "summaries") -> list[str]:
    if table == "summaries":
        return [i["application_ref"] for i in queries.summaries(store, {}, None, 100).items]
    return [i["application_ref"] for i in queries.deadline_report(store, CALL, None)["items"]]


def test_a_nul_in_stored_events_stops_no_read_model(runtime, config):
    # Given submissions stored with a NUL in the town name, the reference and the message id
    for ref, field in (("SD-NUL-TOWN", "town_name"), ("SD-NUL-REF", "application_ref"),
                       ("SD-NUL-MSG", "message_id")):
        store_with_nul(runtime.towns, config, ref, field)
    # and valid applications after them
    desk = Desk(runtime.towns, config)
    desk.to_recommended("SD-2017-101")
    desk.submit("SD-2017-102")
    # When the workers have done everything they were asked
    runtime.drain()
    # then every read model is at the head, with nothing set aside and no failure
    assert_caught_up(runtime.runner)
    assert runtime.runner.set_aside() == [] and failures.failures(runtime.store) == []
    # and the lists and the deadline report hold every application, the NUL shown as U+FFFD
    expected = ["SD-2017-101", "SD-2017-102", "SD-NUL-MSG", "SD-NUL-REF\ufffdX", "SD-NUL-TOWN"]
    assert refs(runtime.store) == expected
    assert refs(runtime.store, "deadline_report") == expected
    items = {i["application_ref"]: i for i in queries.summaries(runtime.store, {}, None, 100).items}
    assert items["SD-NUL-TOWN"]["town_name"] == "Town\ufffdX"
    assert items["SD-2017-101"]["status"] == "recommended"
    # and the audit trail's chains verify, and its export checks offline
    assert verify(runtime.towns, runtime.runner)["ok"] is True
    assert check_export(export(runtime.towns, runtime.runner, CALL)) is None
    # and a rebuild from zero gives the same rows
    runtime.runner.catch_up_all()  # whatever the check itself recorded
    assert_equal_to_rebuild(runtime.runner)


# -- a record no read model can take --------------------------------------------------------


def replace_state(store, towns, position: int, state: bytes) -> None:
    """Writes ``state`` as the stored bytes of the record at ``position``, in SQL."""
    table = towns.recorder.events_table_name
    key = "notification_id" if store.dialect == "postgres" else "rowid"
    with store.transaction() as tx:
        tx.execute(f"UPDATE {table} SET state = ? WHERE {key} = ?", (state, position))


def towns_command(*args: str, url: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "TOWNS_DATABASE_URL": url}
    for name in ("TOWNS_CONFIG", "TOWNS_AMQP_URL"):
        env.pop(name, None)
    result = subprocess.run([sys.executable, "-m", "adapters.cli", *args], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stderr
    return result


def status(url: str) -> tuple[dict[str, int], list[str]]:
    """Set-aside counts by projection, and the lines after the table."""
    lines = towns_command("projections", "status", url=url).stdout.splitlines()
    assert lines[0].split() == ["projection", "position", "head", "lag", "set_aside"]
    table = [line.split() for line in lines[1 : 1 + len(VIEWS)]]
    return {row[0]: int(row[4]) for row in table}, lines[1 + len(VIEWS):]


def gauge(runtime, view: str) -> str:
    text = exposition(runtime.runner, InboundRecords(runtime.towns)).decode()
    return next(line.split()[-1] for line in text.splitlines()
                if line.startswith(f'towns_projection_set_aside{{projection="{view}"}}'))


def damaged_submission(config, store_url):
    """The runtime of a log whose submission SD-2017-001 had its stored bytes damaged before
    any view read them, with valid applications after it (SD-2017-002 recommended, then
    SD-2017-003 submitted through the runtime); and the damaged record as it was."""
    towns = build_towns(config, store_url)
    desk = Desk(towns, config)
    desk.submit("SD-2017-001")
    poison = next(n for n in towns.recorder.select_notifications(0, 100)
                  if n.originator_id == application_id(CALL, "SD-2017-001"))
    desk.to_recommended("SD-2017-002")
    store = ViewStore(store_url)
    replace_state(store, towns, poison.id, b"[" + poison.state[1:])
    store.close()
    towns.close()
    runtime = build_runtime(config, store_url)
    try:
        Desk(runtime.towns, config).submit("SD-2017-003")
    except BaseException:
        runtime.close()
        raise
    return runtime, poison


def test_a_record_no_read_model_can_take_is_set_aside_shown_and_retried(
        config, store_url, monkeypatch):
    monkeypatch.delenv("TOWNS_AMQP_URL", raising=False)
    # Given a submission whose stored bytes were damaged before any view read them, and valid
    # applications after it
    runtime, poison = damaged_submission(config, store_url)
    try:
        # When the workers have done everything they were asked
        runtime.drain()
        # then every read model is at the head and has set the record aside, with the reason
        assert_caught_up(runtime.runner)
        assert failures.failures(runtime.store) == []
        found = runtime.runner.set_aside()
        assert [(r.name, r.position, r.attempts) for r in found] == sorted(
            (view, poison.id, 1) for view in VIEWS)
        assert all(r.reason and "\x00" not in r.reason and len(r.reason) <= 500 for r in found)
        assert all(r.originator_id == str(poison.originator_id) for r in found)
        # and the later applications are in the lists and the deadline report
        assert refs(runtime.store) == ["SD-2017-002", "SD-2017-003"]
        assert refs(runtime.store, "deadline_report") == ["SD-2017-002", "SD-2017-003"]
        # `towns projections status` counts them and says where they are
        counts, notes = status(store_url)
        assert counts == dict.fromkeys(VIEWS, 1)
        assert (f"summaries: 1 set aside at {poison.id} "
                "(towns projections set-aside summaries)") in notes
        listed = towns_command("projections", "set-aside", "audit", url=store_url).stdout
        assert [line.split()[:3] for line in listed.splitlines()[1:]] == [
            ["audit", str(poison.id), "towns:Application.Submitted"]]
        # /metrics and the operators' API show them, without the event's data
        assert gauge(runtime, "pipeline") == "1.0"
        client = create_app(runtime.towns, config, runtime.runner).test_client()
        view = client.get("/api/v1/ops/queues", headers=OPERATOR).get_json()
        assert {p["name"]: p["set_aside"] for p in view["projections"]} == dict.fromkeys(VIEWS, 1)
        first = client.get("/api/v1/ops/set-aside?limit=3", headers=OPERATOR).get_json()
        rest = client.get(f"/api/v1/ops/set-aside?cursor={first['next_cursor']}",
                          headers=OPERATOR).get_json()
        items = first["items"] + rest["items"]
        assert [i["name"] for i in items] == sorted(VIEWS) and rest["next_cursor"] is None
        assert {i["position"] for i in items} == {poison.id} and all(i["open"] for i in items)
        assert not any("data" in i or "state" in i for i in items)
        assert client.get("/api/v1/ops/set-aside", headers={
            "Authorization": "Bearer demo-province"}).status_code == 403
        # When it is retried while still damaged, it stays set aside with one attempt more
        out = towns_command("projections", "retry", url=store_url).stdout
        assert "summaries: 1 tried, 0 taken, 1 still set aside (not rebuilt" in out
        assert {r.attempts for r in runtime.runner.set_aside()} == {2}
        # When the record is mended and retried, every view takes it, in its place
        replace_state(runtime.store, runtime.towns, poison.id, poison.state)
        out = towns_command("projections", "retry", url=store_url).stdout
        assert out.count("1 tried, 1 taken, 0 still set aside (rebuilt from zero)") == 4
        assert runtime.runner.set_aside() == []
        assert len(runtime.runner.set_aside(open_only=False)) == 4
        assert status(store_url) == (dict.fromkeys(VIEWS, 0), [])
        assert gauge(runtime, "pipeline") == "0.0"
        assert refs(runtime.store) == ["SD-2017-001", "SD-2017-002", "SD-2017-003"]
        assert verify(runtime.towns, runtime.runner)["ok"] is True
        runtime.runner.catch_up_all()  # whatever the check itself recorded
        assert_equal_to_rebuild(runtime.runner)
    finally:
        runtime.close()
