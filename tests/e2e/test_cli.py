"""The `towns` command as a user runs it: the demo on the embedded default, then replay."""

from __future__ import annotations

import os
import re
import shutil
import sqlite3
import subprocess
import sys
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from domain import lifecycle as lc
from domain.errors import ERROR_CLASSES
from domain.jurisdictions import JURISDICTIONS

ROOT = Path(__file__).resolve().parents[2]
CALL = "GD-ITOWN-2017-B2"


def towns(*args: str, db: Path, check: bool = True, **extra_env: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "TOWNS_DATABASE_URL": f"sqlite:///{db}"}
    env.pop("TOWNS_CONFIG", None)
    env.update(extra_env)
    return subprocess.run(
        [sys.executable, "-m", "adapters.cli", *args],
        cwd=ROOT, env=env, capture_output=True, text=True, check=check, timeout=120,
    )


@pytest.fixture(scope="module")
def demo(tmp_path_factory) -> tuple[str, Path]:
    db = tmp_path_factory.mktemp("demo") / "towns.db"
    return towns("demo", "--fresh", db=db).stdout, db


def test_the_demo_shows_every_jurisdiction_state_and_error_code(demo):
    out, _ = demo
    for j in JURISDICTIONS.values():
        assert re.search(rf"^{j.name} {j.chinese}\s.*\s[1-9]\d*$", out, re.M), j.name
    before = re.search(r"states just before the deadline check: (.*)", out).group(1)
    final = re.search(r"^all\s+(.*)$", out, re.M).group(1).split()
    seen = {s for s in lc.STATES if re.search(rf"\b{s} [1-9]", before)}
    seen |= {s for s, n in zip(lc.STATES, final) if int(n) > 0}
    assert seen == set(lc.STATES)
    for code in ERROR_CLASSES:
        assert re.search(rf"^\s+{code}\s+[1-9]", out, re.M), code
        assert f" {code}: " in out
    assert "lapsed:" in out and "'reinstated': " in out
    assert re.search(r"audit: 78 application hash chains over \d+ events: intact", out)


def test_replay_answers_for_every_application_of_the_batch(demo):
    out, db = demo
    refs = sorted(set(re.findall(r"\b([A-Z]{2}-2017-\d{3})\b", _batch_refs())))
    answered = 0
    for ref in refs:
        result = towns("replay", CALL, ref, db=db, check=False)
        if result.returncode == 1 and "unknown_application" in result.stderr:
            continue  # refs of refused messages only
        assert result.returncode == 0, result.stderr
        assert "hash chain: intact" in result.stdout
        answered += 1
    assert answered == 78


def test_replay_as_of_a_date_before_verification(demo):
    _, db = demo
    now = towns("replay", CALL, "GZ-2017-001", db=db).stdout
    verified = re.search(r"application\.city_verified\s+(\S+)", now).group(1)
    day_before = (datetime.fromisoformat(verified) - timedelta(seconds=1)).isoformat()
    before = towns("replay", CALL, "GZ-2017-001", "--as-of", day_before, db=db).stdout
    assert '"status": "submitted"' in before
    assert '"status": "approved"' in now
    at_v2 = towns("replay", CALL, "GZ-2017-001", "--version", "2", db=db).stdout
    assert '"status": "city_verified"' in at_v2


def test_bad_usage_and_failures_exit_as_the_contract_says(demo):
    _, db = demo
    usage = towns("replay", CALL, "GZ-2017-001", "--as-of", "2017-03-01", db=db, check=False)
    assert usage.returncode == 2 and "needs an offset" in usage.stderr
    missing = towns("replay", CALL, "XX-2017-404", db=db, check=False)
    assert missing.returncode == 1 and missing.stderr.count("\n") == 1
    assert "unknown_application" in missing.stderr


@pytest.mark.parametrize("version", ["0", "-3", "two"])
def test_a_version_is_a_whole_number_from_one(demo, version):
    result = towns("replay", CALL, "GZ-2017-001", f"--version={version}", db=demo[1], check=False)
    assert result.returncode == 2 and "--version" in result.stderr


def failed_in_one_line(result: subprocess.CompletedProcess, *words: str) -> None:
    assert result.returncode == 1, (result.stdout, result.stderr)
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr, result.stderr
    for word in words:
        assert word in result.stderr, result.stderr


def test_a_store_that_cannot_be_used_is_one_line(tmp_path):
    not_a_database = tmp_path / "notes.db"
    not_a_database.write_text("shopping list\n" * 200)
    failed_in_one_line(towns("replay", CALL, "GZ-2017-001", db=not_a_database, check=False),
                       "towns replay: the database: file is not a database")
    failed_in_one_line(towns("demo", db=tmp_path, check=False), "towns demo: the database:")


def test_a_batch_that_cannot_be_used_is_one_line_and_sends_nothing(tmp_path):
    db = tmp_path / "towns.db"
    failed_in_one_line(towns("demo", "--batch", str(tmp_path / "absent.jsonl"), db=db, check=False),
                       f"cannot use {tmp_path / 'absent.jsonl'}: No such file or directory")
    bad = tmp_path / "bad.jsonl"
    shipped = (ROOT / "adapters" / "inbound" / "demo_batch.jsonl").read_text(
        encoding="utf-8").splitlines()
    bad.write_text("\n".join([*shipped[:5], '{"control": "deadline_check", "as_of": "tomorrow"}']))
    failed_in_one_line(towns("demo", "--batch", str(bad), db=db, check=False), "line 6: ")
    status = towns("replay", CALL, "GZ-2017-001", db=db, check=False)
    assert "unknown_application" in status.stderr  # nothing of the batch was sent


def test_a_configuration_that_cannot_be_used_is_one_line(tmp_path):
    config = tmp_path / "towns.toml"
    config.write_text('calls = "GD-ITOWN-2017-B2"\n')
    failed_in_one_line(towns("replay", CALL, "GZ-2017-001", db=tmp_path / "towns.db", check=False,
                             TOWNS_CONFIG=str(config)), "calls must be an array of tables")


CLOSED = "amqp://guest:guest@127.0.0.1:1/%2F"  # nothing listens on port 1


@pytest.mark.parametrize("url", ["notaurl", "amqp://guest:guest@127.0.0.1:99999/%2F",
                                 f"{CLOSED}?heartbeat=abc", "amqp://[bad"])
@pytest.mark.parametrize("command", [("queues",), ("consume",), ("worker",),
                                     ("deadlines", "check", "--call", CALL)])
def test_an_amqp_url_that_cannot_be_used_is_one_line(tmp_path, url, command):
    result = towns(*command, db=tmp_path / "towns.db", check=False, TOWNS_AMQP_URL=url)
    failed_in_one_line(result, "TOWNS_AMQP_URL ")
    assert "guest" not in result.stderr  # never the credentials


def test_a_publish_url_that_cannot_be_used_is_bad_usage(tmp_path):
    batch = ROOT / "adapters" / "inbound" / "demo_batch.jsonl"
    result = towns("publish", str(batch), "--url", "notaurl", db=tmp_path / "towns.db", check=False)
    assert result.returncode == 2 and "--url" in result.stderr


def test_a_reorder_window_that_is_not_seconds_is_one_line(tmp_path):
    failed_in_one_line(towns("consume", db=tmp_path / "towns.db", check=False,
                             TOWNS_AMQP_URL=CLOSED, TOWNS_REORDER_WINDOW="abc"),
                       "TOWNS_REORDER_WINDOW is a number of seconds")


@pytest.mark.parametrize("host", ["nosuchhost.invalid", "999.1.1.1"])
def test_serving_on_an_address_that_is_not_one_is_one_line(tmp_path, host):
    failed_in_one_line(towns("serve", "--host", host, "--port", "0", db=tmp_path / "towns.db",
                             check=False), f"towns serve: cannot listen on {host}:0")


def test_an_empty_projection_name_is_no_projection(demo):
    failed_in_one_line(towns("projections", "rebuild", "", db=demo[1], check=False),
                       "no projection ''")


def test_an_event_that_cannot_be_read_is_set_aside_by_a_rebuild_and_one_line_elsewhere(
        demo, tmp_path):
    db = tmp_path / "tampered.db"
    shutil.copy(demo[1], db)
    with sqlite3.connect(db) as c:
        rowid, state = c.execute("SELECT rowid, state FROM stored_events WHERE topic LIKE "
                                 "'towns:Application.Evaluated' LIMIT 1").fetchone()
        c.execute("UPDATE stored_events SET state = ? WHERE rowid = ?",
                  (bytes(state).replace(b'"', b"", 1), rowid))
    # A rebuild goes past it: a view that cannot read it sets it aside and says so
    rebuilt = towns("projections", "rebuild", db=db)
    assert "rebuilt audit up to position" in rebuilt.stdout
    assert "1 set aside (towns projections set-aside audit)" in rebuilt.stdout
    listed = towns("projections", "set-aside", "audit", db=db).stdout.splitlines()
    assert [line.split()[:2] for line in listed[1:]] == [["audit", str(rowid)]]
    # The deadline check, which must read the application itself, fails in one line
    failed_in_one_line(towns("deadlines", "check", "--call", CALL, db=db, check=False),
                       "the store holds an event that cannot be read")


def _batch_refs() -> str:
    return (ROOT / "adapters" / "inbound" / "demo_batch.jsonl").read_text(encoding="utf-8")


# -- a reader that stops early, a version past the history, a broken chain ---------------------


def _into_closed_pipe(*args: str, db: Path) -> subprocess.CompletedProcess:
    """``towns ARGS`` with its standard output a pipe whose reading end is already closed."""
    read, write = os.pipe()
    os.close(read)
    env = {**os.environ, "TOWNS_DATABASE_URL": f"sqlite:///{db}"}
    env.pop("TOWNS_CONFIG", None)
    try:
        return subprocess.run([sys.executable, "-m", "adapters.cli", *args], cwd=ROOT, env=env,
                              stdout=write, stderr=subprocess.PIPE, text=True, timeout=120)
    finally:
        os.close(write)


@pytest.mark.parametrize("command", [("replay", CALL, "GZ-2017-001"),
                                     ("projections", "status"),
                                     ("audit", "verify")])
def test_output_to_a_closed_pipe_ends_the_command_quietly_with_0(demo, command):
    result = _into_closed_pipe(*command, db=demo[1])
    assert (result.returncode, result.stderr) == (0, "")


def test_a_reader_that_stops_after_one_line_is_not_a_failure(demo):
    # An export to stdout is far longer than a pipe's buffer: `head -1` closes it mid-way.
    env = {**os.environ, "TOWNS_DATABASE_URL": f"sqlite:///{demo[1]}"}
    env.pop("TOWNS_CONFIG", None)
    script = (f'"{sys.executable}" -m adapters.cli audit export --call {CALL} --format csv '
              '| head -1; echo "exit ${PIPESTATUS[0]}" >&2')
    result = subprocess.run(["bash", "-c", script], cwd=ROOT, env=env, capture_output=True,
                            text=True, timeout=120)
    assert result.stdout.startswith("position,application_ref,")
    assert result.stdout.count("\n") == 1
    assert result.stderr == "exit 0\n"


def test_a_version_past_the_history_is_one_line_naming_the_highest(demo):
    result = towns("replay", CALL, "GZ-2017-001", "--version", "99", db=demo[1], check=False)
    assert result.returncode == 1 and result.stdout == ""
    failed_in_one_line(result, "has no version 99: its highest is 6")
    assert towns("replay", CALL, "GZ-2017-001", "--version", "6", db=demo[1]).returncode == 0


def test_a_replay_of_a_broken_chain_prints_it_and_exits_1(demo, tmp_path):
    from domain.applications import application_id

    db = tmp_path / "tampered.db"
    shutil.copy(demo[1], db)
    with sqlite3.connect(db) as c:  # another message id: the event still decodes
        app = application_id(CALL, "GZ-2017-001").hex
        state = c.execute("SELECT state FROM stored_events WHERE originator_id = ? AND "
                          "originator_version = 2", (app,)).fetchone()[0]
        c.execute("UPDATE stored_events SET state = ? WHERE originator_id = ? AND "
                  "originator_version = 2",
                  (bytes(state).replace(b'"message_id":"', b'"message_id":"X', 1), app))
    result = towns("replay", CALL, "GZ-2017-001", db=db, check=False)
    assert result.returncode == 1
    assert "hash chain: BROKEN at {'version': 2" in result.stdout
    assert '"status": ' in result.stdout  # the history and the state are printed all the same
    failed_in_one_line(result, "GZ-2017-001: hash chain broken at version 2")


def test_a_demo_whose_audit_finds_a_broken_chain_prints_the_report_and_exits_1(demo, tmp_path):
    from domain.applications import application_id

    db = tmp_path / "tampered.db"
    shutil.copy(demo[1], db)
    with sqlite3.connect(db) as c:
        app = application_id(CALL, "GZ-2017-001").hex
        c.execute("UPDATE stored_events SET state = CAST(REPLACE(CAST(state AS TEXT), "
                  "'\"message_id\":\"', '\"message_id\":\"X') AS BLOB) "
                  "WHERE originator_id = ? AND originator_version = 2", (app,))
    result = towns("demo", db=db, check=False)  # the batch again: duplicates, then the audit
    assert result.returncode == 1
    assert re.search(r"audit: 78 application hash chains over \d+ events: BROKEN", result.stdout)
    failed_in_one_line(result, "audit: hash chain broken at log position")
