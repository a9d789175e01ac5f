"""The audit trail, its chains, the pipeline counts, verify and export, on SQLite and PostgreSQL."""

from __future__ import annotations

import copy
import csv
import io
import json
import os
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import pytest

from adapters.audit import verify as audit_module
from adapters.audit.export import check_export, export, write_csv
from adapters.audit.verify import verify
from domain.applications import Application, application_id
from domain.errors import UnknownCall
from domain.hashing import GENESIS
from projections import audit
from domain.merkle import MerkleTree
from projections.merkle import StoredTree, record_leaf
from projections.audit import log_link, state_digest
from projections.registry import projections
from projections.runner import ProjectionRunner
from projections.store import ViewStore
from tests.desk import Desk
from tests.factories import CALL, CST, at

ROOT = Path(__file__).resolve().parents[2]
AUDIT_TABLES = ("audit_events", "audit_applications", "audit_chain", "audit_checkpoints")
PIPELINE_TABLES = ("pipeline_counts", "pipeline_applications")


@pytest.fixture(autouse=True)
def small_checkpoints(monkeypatch):
    monkeypatch.setattr(audit, "CHECKPOINT_EVERY", 5)  # a small history still has checkpoints


@pytest.fixture
def runner(towns, store_url):
    store = ViewStore(store_url)
    runner = ProjectionRunner(towns, store, projections())
    runner.setup()
    yield runner
    store.close()


def build_history(towns, config, runner=None) -> None:
    """Several applications down every path, a deadline check, a lapse and a reinstatement;
    projections caught up in small batches along the way when ``runner`` is given."""
    desk = Desk(towns, config)
    desk.to_evaluated("SD-2017-001")
    desk.province("application.approved", "SD-2017-001")
    desk.submit("SD-2017-002")
    desk.city("application.returned", "SD-2017-002")
    if runner:
        for name in runner.projections:
            runner.catch_up(name, batch=3)
    desk.applicant("application.resubmitted", "SD-2017-002")
    desk.submit("FS-2017-001", "foshan")
    desk.applicant("application.withdrawn", "FS-2017-001", "foshan")
    desk.to_recommended("GZ-2017-001", "guangzhou")
    desk.submit("SD-2017-003")
    towns.check_deadline(CALL, datetime(2017, 4, 1, 12, tzinfo=CST))
    desk.province("materials.received", "GZ-2017-001", "guangzhou", occurred_at=at(20))
    if runner:
        for name in runner.projections:
            runner.catch_up(name, batch=4)


def log(towns) -> list:
    return list(towns.recorder.select_notifications(start=0, limit=10_000))


def rows(runner, table: str, order: str | None = None) -> list[tuple]:
    """The table's rows in ``order``, or sorted whole."""
    with runner.store.transaction() as tx:
        found = [tuple(r) for r in tx.all(f"SELECT * FROM {table} ORDER BY {order or 1}")]
    return found if order else sorted(found, key=repr)


def tamper(runner, position: int, old: bytes, new: bytes) -> None:
    """Changes one byte of the stored event at ``position``, in SQL."""
    state = next(n.state for n in log(runner.towns) if n.id == position)
    offset = state.index(old) + 1  # 1-based
    table = runner.towns.recorder.events_table_name
    with runner.store.transaction() as tx:
        if tx.dialect == "postgres":
            tx.execute(f"UPDATE {table} SET state = overlay(state placing ? from ? for 1) "
                       "WHERE notification_id = ?", (new, offset, position))
        else:
            changed = state[: offset - 1] + new + state[offset:]
            tx.execute(f"UPDATE {table} SET state = ? WHERE rowid = ?", (changed, position))


def position_of(towns, ref: str, version: int) -> int:
    app_id = application_id(CALL, ref)
    return next(n.id for n in log(towns)
                if n.originator_id == app_id and n.originator_version == version)


def test_audit_rows_are_every_application_event_and_the_chain_covers_the_log(towns, config, runner):
    build_history(towns, config)
    runner.catch_up_all()
    notifications = log(towns)
    refs = {}
    expected = []
    for n in notifications:
        event = towns.mapper.to_domain_event(n)
        if not isinstance(event, Application.Event):
            continue
        if event.originator_version == 1:
            refs[event.originator_id] = (event.data["call_id"], event.data["application_ref"])
        expected.append((n.id, str(event.originator_id), *refs[event.originator_id],
                         event.originator_version, event.EVENT_TYPE,
                         json.dumps(event.actor, sort_keys=True, ensure_ascii=False),
                         event.message_id, event.occurred_at.isoformat(),
                         event.timestamp.isoformat(), event.hash, event.prev_hash))
    assert rows(runner, "audit_events", "position") == expected
    assert {e[4] for e in expected} >= {1, 6} and "application.lapsed" in {e[5] for e in expected}
    previous, chain_rows = GENESIS, rows(runner, "audit_chain", "position")
    assert [r[0] for r in chain_rows] == [n.id for n in notifications]
    assert {r[2] for r in chain_rows} >= {"towns:InboxMessage.Applied", "towns:DeadlineCheck.Ran"}
    leaves = []
    for (position, seq, topic, sha, chain_hash, leaf), n in zip(chain_rows, notifications):
        previous = log_link(previous, n.id, n.topic, state_digest(n.state))
        assert (topic, sha, chain_hash) == (n.topic, state_digest(n.state), previous)
        leaves.append(record_leaf(n.id, n.topic, n.originator_id, n.originator_version,
                                  state_digest(n.state)))
        assert leaf == leaves[-1].hex()
    # the Merkle tree the view keeps is the RFC 9162 tree of those leaves, at every size
    tree = MerkleTree(leaves)
    with runner.store.transaction() as tx:
        stored = StoredTree(tx, "audit_chain", "audit_merkle")
        assert stored.size() == len(leaves)
        for size in range(1, len(leaves) + 1):
            assert stored.root(size) == tree.root(size)
        assert stored.inclusion_proof(3, len(leaves)) == tree.inclusion_proof(3)
    marks = rows(runner, "audit_checkpoints", "position")
    assert [m[2] for m in marks] == list(range(5, len(notifications) + 1, 5))
    result = verify(towns, runner)
    assert result["ok"] and result["first_break"] is None
    assert result["events_checked"] == len(notifications)
    assert result["applications_checked"] == 5 and result["checkpoints_checked"] == len(marks)
    assert result["application_events_checked"] == len(expected)


def test_a_rebuild_gives_the_same_rows(towns, config, runner):
    build_history(towns, config, runner)
    before = {t: rows(runner, t) for t in AUDIT_TABLES + PIPELINE_TABLES}
    assert all(before.values())
    runner.rebuild("audit")
    runner.rebuild("pipeline", batch=2)
    assert {t: rows(runner, t) for t in AUDIT_TABLES + PIPELINE_TABLES} == before


def test_pipeline_counts_equal_the_summaries_grouped(towns, config, runner):
    build_history(towns, config, runner)
    grouped = rows(runner, "(SELECT call_id, city, status, COUNT(*) AS n FROM "
                           "application_summaries GROUP BY call_id, city, status) AS g")
    assert sorted(rows(runner, "pipeline_counts")) == sorted(grouped)
    statuses = {r[2] for r in grouped}
    assert {"approved", "withdrawn", "lapsed", "recommended"} <= statuses
    assert 0 not in {r[3] for r in rows(runner, "pipeline_counts")}
    lapsed = [r for r in rows(runner, "pipeline_applications") if r[3] == "lapsed"]
    assert sorted(r[4] for r in lapsed) == ["submitted", "submitted"]  # SD-2017-002 and -003


def test_a_changed_byte_is_named_in_both_chains(towns, config, runner):
    build_history(towns, config)
    runner.catch_up_all()
    position = position_of(towns, "SD-2017-002", 2)
    tamper(runner, position, b"zone map", b"Z")
    result = verify(towns, runner)
    assert not result["ok"]
    first = result["first_break"]
    assert (first["position"], first["application_ref"], first["version"]) == (
        position, "SD-2017-002", 2)
    assert first["chain"] == "application+log" and "stored bytes differ" in first["reason"]
    assert {b["chain"] for b in result["breaks"]} == {"application", "log"}


def test_a_long_log_read_with_a_second_process_gives_the_same_verdict(towns, config, runner,
                                                                       monkeypatch):
    """From ``PARALLEL_FROM`` records, application events are read in a second process: the
    answer is the one a single process gives, intact or broken."""
    build_history(towns, config)
    runner.catch_up_all()
    alone = verify(towns, runner)
    monkeypatch.setattr(audit_module, "PARALLEL_FROM", 0)
    assert verify(towns, runner) == alone and alone["ok"] is True
    tamper(runner, position_of(towns, "SD-2017-002", 2), b"zone map", b"Z")
    tamper(runner, position_of(towns, "FS-2017-001", 2), b"{", b"[")
    broken = verify(towns, runner)
    monkeypatch.setattr(audit_module, "PARALLEL_FROM", 10**9)
    assert verify(towns, runner) == broken and broken["ok"] is False
    assert [(b["chain"], b["application_ref"]) for b in broken["breaks"]] == [
        ("log", "SD-2017-002"), ("application", "SD-2017-002"), ("application", "FS-2017-001")]


def test_a_record_that_no_longer_decodes_stops_nothing_but_is_named(towns, config, runner):
    build_history(towns, config)
    position = position_of(towns, "FS-2017-001", 2)
    tamper(runner, position, b"{", b"[")  # before the audit trail has read it
    result = verify(towns, runner)
    first = result["first_break"]
    assert not result["ok"] and first["position"] == position
    assert (first["application_ref"], first["version"]) == ("FS-2017-001", 2)
    assert "cannot be decoded" in first["reason"]


@pytest.mark.parametrize("change, reason", [
    ("DELETE FROM audit_chain WHERE position = {p}", "in the log, missing from the audit chain"),
    ("UPDATE audit_checkpoints SET chain_hash = '{g}' WHERE position = "
     "(SELECT MIN(position) FROM audit_checkpoints)", "checkpoint does not match the chain"),
    ("DELETE FROM {events} WHERE {id} = {p}", "in the audit chain, missing from the log"),
])
def test_a_missing_or_changed_row_is_named(towns, config, runner, change, reason):
    build_history(towns, config)
    runner.catch_up_all()
    position = position_of(towns, "SD-2017-002", 3)
    table = towns.recorder.events_table_name
    key = "notification_id" if runner.store.dialect == "postgres" else "rowid"
    with runner.store.transaction() as tx:
        tx.execute(change.format(p=position, g=GENESIS, events=table, id=key))
    result = verify(towns, runner)
    log_break = next(b for b in result["breaks"] if b["chain"] == "log")
    assert not result["ok"] and log_break["reason"] == reason
    if "checkpoint" not in reason:
        assert result["first_break"]["position"] == position
        assert result["first_break"]["application_ref"] == "SD-2017-002"
    if "missing from the log" in reason:  # the application's own chain no longer links
        app_break = next(b for b in result["breaks"] if b["chain"] == "application")
        assert (app_break["version"], app_break["reason"]) == (
            4, "link to the previous event does not match")


def test_an_export_checks_offline_and_an_edit_breaks_it(towns, config, runner):
    build_history(towns, config)
    trail = json.loads(json.dumps(export(towns, runner, CALL)))
    assert check_export(trail) is None
    assert [e["position"] for e in trail["events"]] == [r[0] for r in rows(runner, "audit_events", "position")]
    assert trail["checkpoint"]["position"] == rows(runner, "audit_checkpoints", "position")[-1][0]
    assert trail["events"][0]["originator_topic"] == "towns:Application"
    edited = copy.deepcopy(trail)
    edited["events"][4]["data"]["score"] = 99
    found = check_export(edited)
    assert (found["position"], found["version"]) == (trail["events"][4]["position"],
                                                    trail["events"][4]["version"])
    dropped = copy.deepcopy(trail)
    del dropped["events"][1]
    assert "follows version" in check_export(dropped)["reason"]
    out = io.StringIO()
    write_csv(trail, out)
    lines = out.getvalue().splitlines()
    assert lines[-1].startswith("# checkpoint position=") and f"call_id={CALL}" in lines[-1]
    table = list(csv.DictReader(lines[:-1]))
    assert [int(r["position"]) for r in table] == [e["position"] for e in trail["events"]]
    assert json.loads(table[0]["data"]) == trail["events"][0]["data"]
    with pytest.raises(UnknownCall):
        export(towns, runner, "NO-SUCH-CALL")


def cli(*args: str, db: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "TOWNS_DATABASE_URL": f"sqlite:///{db}"}
    env.pop("TOWNS_CONFIG", None)
    return subprocess.run([sys.executable, "-m", "adapters.cli", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120)


def test_the_cli_exits_0_when_intact_and_1_when_broken(sqlite_towns, config, tmp_path):
    db = tmp_path / "towns.db"
    build_history(sqlite_towns, config)
    intact = cli("audit", "verify", db=db)
    assert intact.returncode == 0, intact.stderr
    assert "audit: intact" in intact.stdout
    out = tmp_path / "trail.json"
    assert cli("audit", "export", "--call", CALL, "--format", "json", "--out", str(out),
               db=db).returncode == 0
    assert check_export(json.loads(out.read_text(encoding="utf-8"))) is None
    csv_run = cli("audit", "export", "--call", CALL, "--format", "csv", db=db)
    assert csv_run.returncode == 0 and csv_run.stdout.splitlines()[-1].startswith("# checkpoint")
    unknown = cli("audit", "export", "--call", "NOPE", "--format", "json", db=db)
    assert unknown.returncode == 1 and len(unknown.stderr.strip().splitlines()) == 1
    assert cli("audit", db=db).returncode == 2
    assert cli("audit", "export", "--format", "json", db=db).returncode == 2
    store = ViewStore(f"sqlite:///{db}")
    position = position_of(sqlite_towns, "SD-2017-001", 3)
    tamper(ProjectionRunner(sqlite_towns, store, []), position, b"first choice", b"F")
    broken = cli("audit", "verify", db=db)
    assert broken.returncode == 1 and "BROKEN" in broken.stdout
    assert len(broken.stderr.strip().splitlines()) == 1 and "SD-2017-001 v3" in broken.stderr
    as_json = cli("audit", "verify", "--json", db=db)
    result = json.loads(as_json.stdout)
    assert as_json.returncode == 1 and set(result) >= {"ok", "events_checked", "first_break"}
    assert (result["ok"], result["first_break"]["position"]) == (False, position)
    store.close()


def test_a_trail_written_before_the_merkle_tree_is_built_again_from_zero(towns, config, runner):
    build_history(towns, config, runner)
    runner.catch_up(audit.AuditTrail.name)
    with runner.store.transaction() as tx:  # as the trail stood before the tree
        tx.execute("DROP TABLE audit_chain")
        tx.execute("CREATE TABLE audit_chain (position BIGINT PRIMARY KEY, seq BIGINT NOT NULL, "
                   "topic TEXT NOT NULL, state_sha256 TEXT NOT NULL, chain_hash TEXT NOT NULL)")
        tx.execute("INSERT INTO audit_chain VALUES (1, 1, 't', 'x', 'y')")
    runner.setup()  # as any process does at its start
    positions = {s.name: s.position for s in runner.status()}
    assert positions["audit"] == 0
    runner.catch_up(audit.AuditTrail.name)
    assert verify(towns, runner)["ok"] is True
    with runner.store.transaction() as tx:
        assert tx.one("SELECT COUNT(*) FROM audit_chain WHERE leaf IS NULL")[0] == 0
