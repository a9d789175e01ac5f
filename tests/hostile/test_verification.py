"""Verification an auditor can trust, and that never gets in anyone's way.

* ``audit verify`` checks every record up to the head of the log as it began, from the stored
  records themselves, whether the audit trail is at the head, stalled behind it, or has set a
  record aside; it never calls intact what it did not check, and it says how far it checked.
* ``GET /api/v1/audit/verify`` answers at once from the last completed verification and runs at
  most one at a time in the background: concurrent auditors never occupy the server's threads.
* Connections the database server dropped (a restart; here, the test's own backends
  terminated) are replaced before use: no request answers 500; a store that cannot be reached
  at all answers 503 ``unavailable``.
"""

from __future__ import annotations

import contextlib
import threading
import time
import uuid
from datetime import datetime, timezone

import psycopg
import pytest

from adapters.audit import verify as audit  # the module whose verify a background run calls
from adapters.audit.verify import verify
from adapters.bootstrap import build_towns
from adapters.http import create_app
from adapters.http.context import EXTENSION
from projections.audit import AuditTrail
from projections.database_url import conninfo
from projections.registry import projections
from projections.runner import ProjectionRunner
from projections.store import ViewStore
from tests.desk import Desk
from tests.factories import CALL, encode, envelope
from tests.integration.test_audit import (  # noqa: F401 - fixtures
    build_history,
    log,
    position_of,
    runner,
    small_checkpoints,
    tamper,
)

VERIFY = "/api/v1/audit/verify"
APP = f"/api/v1/applications/{CALL}/SD-2017-001"


@contextlib.contextmanager
def stalled(runner: ProjectionRunner):
    """Another runner holds the audit trail, as a worker stuck on a record would."""
    holder = ViewStore(runner.store.url)
    try:
        with holder.transaction(read_only=True) as tx:
            assert tx.try_lock(AuditTrail.name)
            yield
    finally:
        holder.close()


def trail_position(runner: ProjectionRunner) -> int:
    with runner.store.transaction(read_only=True) as tx:
        return runner.store.position(tx, AuditTrail.name)


def headers(who: str) -> dict:
    return {"Authorization": f"Bearer demo-{who}"}


# -- verify, whatever the audit trail has read ---------------------------------------------------

def test_a_stalled_trail_is_read_past_and_the_verdict_says_how_far(towns, config, runner):
    # Given a history whose audit trail stopped ten records in, its runner stuck
    build_history(towns, config)
    runner.run_once(AuditTrail.name, 10)
    head, records = towns.recorder.max_notification_id(), log(towns)
    with stalled(runner):
        # When an auditor verifies
        result = verify(towns, runner)
    # Then every record up to the head was checked, from the records themselves
    assert result["events_checked"] == len(records)
    assert result["ok"] is True and result["first_break"] is None
    assert result["head_at_start"] == result["checked_to"] == head
    assert result["position"] == trail_position(runner) == records[9].id
    assert result["outside_trail"] == len(records) - 10
    assert result["outside_trail_positions"] == [n.id for n in records[10:30]]
    assert result["applications_checked"] == 5


def test_a_record_the_trail_could_not_take_is_checked_from_its_bytes(towns, config, runner,
                                                                     monkeypatch):
    # Given a record the audit trail cannot take (it stalls there, or sets it aside)
    build_history(towns, config)
    poison = position_of(towns, "SD-2017-002", 2)
    take = AuditTrail.apply

    def apply(self, tx, names, batch):
        if any(recorded.position == poison for recorded in batch):
            raise ValueError("the trail cannot take this record")
        return take(self, tx, names, batch)

    monkeypatch.setattr(AuditTrail, "apply", apply)
    with contextlib.suppress(Exception):
        runner.catch_up(AuditTrail.name, batch=4)
    # When an auditor verifies, the record sound
    result = verify(towns, runner)
    # Then it is checked from its stored bytes, and the verdict covers the whole log
    assert result["ok"] is True and result["breaks"] == []
    assert result["head_at_start"] == result["checked_to"] == towns.recorder.max_notification_id()
    assert poison in result["outside_trail_positions"]
    # When its stored bytes are changed in SQL, which the trail never saw
    tamper(runner, poison, b"zone map", b"Z")
    broken = verify(towns, runner)
    # Then the break is named all the same
    first = broken["first_break"]
    assert broken["ok"] is False
    assert (first["position"], first["application_ref"], first["version"]) == (
        poison, "SD-2017-002", 2)
    assert first["reason"] == "content does not match its hash"


def test_a_changed_record_past_the_trail_is_a_break(towns, config, runner):
    # Given a trail stalled before the last application was submitted
    build_history(towns, config)
    target = position_of(towns, "SD-2017-003", 1)
    runner.run_once(AuditTrail.name, [n.id for n in log(towns)].index(target))
    assert trail_position(runner) < target
    # When that submission's stored bytes are changed
    tamper(runner, target, b"Smart factory", b"Z")
    with stalled(runner):
        result = verify(towns, runner)
    # Then verify finds it, though the trail never read it
    first = result["first_break"]
    assert result["ok"] is False and result["checked_to"] == result["head_at_start"]
    assert (first["position"], first["application_ref"], first["version"]) == (
        target, "SD-2017-003", 1)


# -- over HTTP: one verification in the background, reads never wait -----------------------------

def test_concurrent_auditors_share_one_background_verification(towns, config, runner,
                                                               monkeypatch):
    # Given a verification that takes as long as the test wants
    build_history(towns, config)
    release, calls, real = threading.Event(), [], audit.verify

    def slow(*args):
        calls.append(threading.current_thread().name)
        release.wait(120)
        return real(*args)

    monkeypatch.setattr(audit, "verify", slow)
    app = create_app(towns, config, runner)
    answers: dict[str, object] = {}

    def get(name: str, path: str, who: str) -> None:
        answers[name] = app.test_client().get(path, headers=headers(who))

    # When eight auditors ask at once and the province reads an application meanwhile
    asking = [threading.Thread(target=get, args=(f"auditor-{i}", VERIFY, "auditor"))
              for i in range(8)]
    asking.append(threading.Thread(target=get, args=("application", APP, "province")))
    try:
        for thread in asking:
            thread.start()
        deadline = time.monotonic() + 60  # a bound for a server that blocks, not a timing
        for thread in asking:
            thread.join(max(0.0, deadline - time.monotonic()))
        # Then every one is answered while the verification is still held
        assert not any(thread.is_alive() for thread in asking)
        assert not release.is_set() and len(calls) == 1
    finally:
        release.set()
    assert answers["application"].status_code == 200
    assert answers["application"].get_json()["application_ref"] == "SD-2017-001"
    for i in range(8):
        body = answers[f"auditor-{i}"].get_json()
        assert answers[f"auditor-{i}"].status_code == 200
        assert (body["state"], body["ok"], body["running"]) == ("pending", None, True)
        assert body["events_checked"] == 0 and body["first_break"] is None
        assert body["checked_to"] is None and body["verified_at"] is None
    # And once it has finished, it is what they are answered
    assert app.extensions[EXTENSION].verifications().wait(120)
    done = app.test_client().get(VERIFY, headers=headers("auditor")).get_json()
    head = towns.recorder.max_notification_id()
    assert (done["state"], done["ok"], done["first_break"]) == ("verified", True, None)
    assert done["checked_to"] == done["head_at_start"] == head and done["verified_at"]
    assert len(calls) == 1  # the last one is recent: no second run started
    # And a restarted server answers with it at once
    restarted = create_app(towns, config, runner)
    again = restarted.test_client().get(VERIFY, headers=headers("auditor")).get_json()
    assert (again["state"], again["ok"], again["verified_at"]) == (
        "verified", True, done["verified_at"])
    assert restarted.extensions[EXTENSION].verifications().wait(120)


# -- connections the server dropped --------------------------------------------------------------

@pytest.fixture
def tagged(postgres_schema_url, monkeypatch):
    """A PostgreSQL URL in a fresh schema, every connection this test opens named (libpq's
    PGAPPNAME) so that it can terminate its own backends and no one else's."""
    name = f"towns-test-{uuid.uuid4().hex[:12]}"
    monkeypatch.setenv("PGAPPNAME", name)
    return postgres_schema_url, name


def terminate(url: str, name: str) -> int:
    """Terminates this test's backends (waiting until each is gone); how many there were."""
    with psycopg.connect(conninfo(url), autocommit=True,
                         application_name="towns-test-terminator") as conn:
        return len(conn.execute(
            "SELECT pg_terminate_backend(pid, 5000) FROM pg_stat_activity WHERE "
            "application_name = %s AND datname = current_database() AND pid <> pg_backend_pid()",
            (name,)).fetchall())


@pytest.fixture
def served(tagged, config):
    """A server's app on the tagged database: a few applications, projected."""
    url, name = tagged
    towns = build_towns(config, url)
    runner = ProjectionRunner(towns, ViewStore(url), projections())
    runner.setup()
    Desk(towns, config).to_recommended("SD-2017-001")
    runner.catch_up_all()
    yield create_app(towns, config, runner), url, name
    runner.store.close()
    towns.close()


REFS = iter(range(100, 1000))


def round_of_requests(client) -> dict[str, int]:
    """An audit verdict, an application, lists, an ingest and the health check: statuses."""
    submitted = envelope("application.submitted", f"SD-2017-{next(REFS)}")
    return {  # first a read of the log that the library's own retries do not cover
        "own list": client.get("/api/v1/applications",  # the owners, read from the log
                               headers=headers("shunde-applicant")).status_code,
        "verify": client.get(VERIFY, headers=headers("auditor")).status_code,
        "application": client.get(APP, headers=headers("province")).status_code,
        "list": client.get("/api/v1/applications", headers=headers("province")).status_code,
        "ingest": client.post("/api/v1/events", data=encode(submitted), headers={
            **headers("shunde-applicant"), "Content-Type": "application/json"}).status_code,
        "health": client.get("/healthz").status_code,
    }


EVERYTHING_OK = dict.fromkeys(("verify", "application", "list", "own list", "ingest", "health"),
                              200)


@pytest.mark.postgres
def test_requests_after_the_server_dropped_their_connections_are_answered(served):
    # Given a server whose connections (pooled, and each thread's to the views) are in use
    app, url, name = served
    client = app.test_client()
    assert round_of_requests(client) == EVERYTHING_OK
    # When the database server drops every one of them (as a restart does)
    assert terminate(url, name) >= 2
    # Then the next requests are answered as before, on new connections: never a 500
    assert round_of_requests(client) == EVERYTHING_OK
    assert round_of_requests(client) == EVERYTHING_OK


@pytest.mark.postgres
def test_a_verification_after_the_server_dropped_its_connections_completes(served):
    # Given a server that has verified once
    app, url, name = served
    client, verifications = app.test_client(), app.extensions[EXTENSION].verifications()
    verifications.refresh_after = 0  # every request may start one
    client.get(VERIFY, headers=headers("auditor"))
    assert verifications.wait(60)
    # When the database server drops every connection, and an auditor asks again
    killed_at = datetime.now(timezone.utc).isoformat(timespec="microseconds")
    assert terminate(url, name) >= 2
    assert client.get(VERIFY, headers=headers("auditor")).status_code == 200
    assert verifications.wait(60)
    # Then the verification it started completed, intact, up to the head
    body = client.get(VERIFY, headers=headers("auditor")).get_json()
    assert (body["state"], body["ok"], body["last_error"]) == ("verified", True, None)
    assert body["started_at"] > killed_at
    assert body["checked_to"] == body["head_at_start"] == app.extensions[
        EXTENSION].towns.recorder.max_notification_id()
    assert verifications.wait(60)


def error_of(response, status: int, code: str) -> None:
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.headers["x-towns-error"] == code
    assert response.get_json()["error"]["code"] == code


def test_a_store_that_cannot_be_reached_answers_503_unavailable(sqlite_towns, config):
    # Given read models on a PostgreSQL nobody listens for (a closed port on this machine)
    down = ProjectionRunner(sqlite_towns, ViewStore("postgresql://postgres@127.0.0.1:1/towns"),
                            projections())
    client = create_app(sqlite_towns, config, down).test_client()
    # Then reads of them and the audit verdict say unavailable, never internal_error
    error_of(client.get("/api/v1/applications", headers=headers("province")), 503, "unavailable")
    error_of(client.get(VERIFY, headers=headers("auditor")), 503, "unavailable")
