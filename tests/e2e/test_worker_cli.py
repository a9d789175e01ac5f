"""`towns worker`, `towns projections` and `towns deadlines` as a user runs them, on the
embedded default (SQLite, the in-process broker and worker)."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from adapters.bootstrap import build_towns
from adapters.config import load_config
from adapters.inbound.ingest import ingest
from tests.factories import CALL, encode, envelope

ROOT = Path(__file__).resolve().parents[2]
DUE = datetime.fromisoformat("2017-03-31T23:59:59+08:00")


def env(db: Path) -> dict[str, str]:
    out = {**os.environ, "TOWNS_DATABASE_URL": f"sqlite:///{db}"}
    for name in ("TOWNS_CONFIG", "TOWNS_AMQP_URL"):
        out.pop(name, None)
    return out


def towns(*args: str, db: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "adapters.cli", *args], cwd=ROOT, env=env(db),
                          capture_output=True, text=True, timeout=120, check=False)


def status(db: Path) -> dict[str, tuple[int, int, int]]:
    result = towns("projections", "status", db=db)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["projection", "position", "head", "lag", "set_aside"]
    views = [line.split() for line in lines[1:] if not line.split()[0].endswith(":")]
    assert all(aside == "0" for *_, aside in views), result.stdout  # no event set aside here
    return {name: (int(p), int(h), int(lag)) for name, p, h, lag, _ in views}


@pytest.fixture(scope="module")
def demo(tmp_path_factory) -> Path:
    db = tmp_path_factory.mktemp("views") / "towns.db"
    result = towns("demo", "--fresh", db=db)
    assert result.returncode == 0, result.stderr
    return db


def test_after_the_demo_every_projection_is_at_the_head_of_the_log(demo):
    found = status(demo)
    assert set(found) == {"summaries", "deadline_report", "audit", "pipeline"}
    assert all(lag == 0 and position == head > 0 for position, head, lag in found.values())


def test_rebuild_one_all_or_an_unknown_one(demo):
    one = towns("projections", "rebuild", "summaries", db=demo)
    assert one.returncode == 0 and re.fullmatch(r"rebuilt summaries up to position \d+\n", one.stdout)
    every = towns("projections", "rebuild", db=demo)
    assert every.returncode == 0 and len(every.stdout.splitlines()) == 4
    unknown = towns("projections", "rebuild", "nope", db=demo)
    assert unknown.returncode == 1 and unknown.stdout == ""
    assert unknown.stderr.count("\n") == 1 and "no projection 'nope'" in unknown.stderr
    assert all(lag == 0 for _, _, lag in status(demo).values())


def test_the_check_by_hand_before_and_after_cutoff_plus_grace(demo):
    early = towns("deadlines", "check", "--call", CALL, "--as-of",
                  (DUE - timedelta(seconds=1)).isoformat(), db=demo)
    assert early.returncode == 0 and "not due; it runs at 2017-03-31T23:59:59+08:00" in early.stdout
    again = towns("deadlines", "check", "--call", CALL, "--as-of", DUE.isoformat(), db=demo)
    assert again.returncode == 0
    assert re.search(r"\d+ open applications checked, 0 lapsed: - \(it had run before\)", again.stdout)
    unknown = towns("deadlines", "check", "--call", "NO-SUCH-CALL", db=demo)
    assert unknown.returncode == 1 and "unknown_call" in unknown.stderr
    assert towns("deadlines", "check", db=demo).returncode == 2


def test_the_worker_catches_up_the_overdue_check_and_stops_cleanly_on_sigterm(tmp_path):
    db = tmp_path / "towns.db"
    # Given an application submitted in 2017 and never recommended, and no check run
    config = load_config()
    store = build_towns(config, f"sqlite:///{db}")
    ingest(store, encode(envelope("application.submitted", "SD-IDLE")), config.principals["shunde-applicant"])
    store.close()
    # when `towns worker` runs on the embedded default
    worker = subprocess.Popen([sys.executable, "-m", "adapters.cli", "worker", "--tick", "0.5"],
                              cwd=ROOT, env=env(db), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True)
    try:
        end = time.monotonic() + 60
        while not _lapsed_and_projected(db):
            assert worker.poll() is None, worker.communicate()
            assert time.monotonic() < end, "the worker did not catch the check up"
            time.sleep(0.3)
    finally:
        worker.send_signal(signal.SIGTERM)
        _, err = worker.communicate(timeout=60)
    # then it ran the overdue check at once, and SIGTERM stopped it with exit code 0
    assert worker.returncode == 0, err
    assert "deadline check sent: GD-ITOWN-2017-B2" in err and "towns worker: stopped" in err


def _lapsed_and_projected(db: Path) -> bool:
    import sqlite3

    with sqlite3.connect(db) as conn:
        try:
            found = conn.execute("SELECT application_ref, deadline_outcome FROM deadline_report").fetchall()
        except sqlite3.OperationalError:  # not created yet
            return False
    return found == [("SD-IDLE", "lapsed")] and all(lag == 0 for _, _, lag in status(db).values())
