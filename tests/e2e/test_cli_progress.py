"""The progress of `towns demo`, `towns projections retry` and `towns deadlines check` where stderr
is no terminal: plain lines on stderr whose counts are the work done, and stdout exactly as it is
without them. The commands run with a line due at every report (``EVERY_SECONDS`` 0) and their
work in small pages, so that a small store gives several lines."""

from __future__ import annotations

import os
import re
import shutil
import sqlite3
import subprocess
import sys
from contextlib import closing
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CALL = "GD-ITOWN-2017-B2"
BATCH = ROOT / "adapters" / "inbound" / "demo_batch.jsonl"
SHOWING = ("import sys, adapters.cli.progress as p, adapters.audit.verify as v, "
           "domain.deadline_checks as d, projections.audit as a; "
           "p.EVERY_SECONDS = 0; v.PAGE = 100; d.CHECK_CHUNK = 10; a.AuditTrail.batch = 100; "
           "from adapters.cli import main; sys.exit(main(sys.argv[1:]))")
LINE = re.compile(r"^(?P<what>.+?): (?P<done>[\d,]+) of (?P<total>[\d,]+) (?P<unit>[a-z ]+) "
                  r"\((?P<percent>\d+)%\)(?P<rest>.*)$")


def towns(*args: str, db: Path, showing: bool = False) -> subprocess.CompletedProcess:
    """``towns ARGS`` on the SQLite file ``db``; with ``showing``, a progress line at every
    report of its work."""
    env = {**os.environ, "TOWNS_DATABASE_URL": f"sqlite:///{db}"}
    for name in ("TOWNS_CONFIG", "TOWNS_AMQP_URL"):
        env.pop(name, None)
    start = ["-c", SHOWING] if showing else ["-m", "adapters.cli"]
    return subprocess.run([sys.executable, *start, *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, check=True, timeout=120)


def reported(stderr: str, what: str) -> list[tuple[int, int]]:
    """(done, total) of each line of ``what`` on stderr; every such line is a progress line."""
    found = []
    for line in stderr.splitlines():
        if line.startswith(f"{what}: "):
            match = LINE.match(line)
            assert match and match["what"] == what, line
            found.append((int(match["done"].replace(",", "")),
                          int(match["total"].replace(",", ""))))
    return found


def last_line(stderr: str, what: str) -> str:
    return [line for line in stderr.splitlines() if line.startswith(f"{what}: ")][-1]


@pytest.fixture(scope="module")
def demo(tmp_path_factory) -> tuple[subprocess.CompletedProcess, Path]:
    """The demo run without progress lines (none is due in its few seconds): its output and
    store."""
    db = tmp_path_factory.mktemp("demo") / "towns.db"
    return towns("demo", "--fresh", db=db), db


def copies(db: Path, folder: Path) -> tuple[Path, Path]:
    """Two copies of the store ``db``: for a run as before, and one showing its progress."""
    made = []
    for name in ("quiet.db", "showing.db"):
        with closing(sqlite3.connect(db)) as source, closing(sqlite3.connect(folder / name)) as to:
            source.backup(to)
        made.append(folder / name)
    return made[0], made[1]


def changed(db: Path, rowid: int, state: bytes) -> None:
    with closing(sqlite3.connect(db)) as c, c:
        c.execute("UPDATE stored_events SET state = ? WHERE rowid = ?", (state, rowid))


def test_the_demo_tells_the_batch_and_the_audit_on_stderr_and_prints_the_same(demo, tmp_path):
    quiet, quiet_db = demo
    db = tmp_path / "towns.db"
    showing = towns("demo", "--fresh", db=db, showing=True)
    assert showing.stdout == quiet.stdout.replace(str(quiet_db), str(db))
    lines = sum(1 for line in BATCH.read_text(encoding="utf-8").splitlines() if line.strip())
    assert reported(showing.stderr, "towns demo") == [(n, lines) for n in range(1, lines + 1)]
    assert re.fullmatch(rf"towns demo: {lines} of {lines} batch lines \(100%\) in \d+s",
                        last_line(showing.stderr, "towns demo"))
    head = int(re.search(r"notifications up to position (\d+)", showing.stdout).group(1))
    audit = reported(showing.stderr, "towns demo audit")
    assert [done for done, _ in audit] == list(range(100, head, 100)) + [head]
    assert {total for _, total in audit} == {head}
    assert last_line(showing.stderr, "towns demo audit").startswith(
        f"towns demo audit: {head:,} of {head:,} records (100%) in ")


def test_a_retry_that_rebuilds_tells_the_rebuild_on_stderr_and_prints_the_same(demo, tmp_path):
    db = tmp_path / "mended.db"
    shutil.copy(demo[1], db)
    with closing(sqlite3.connect(db)) as c:
        rowid, state = c.execute("SELECT rowid, state FROM stored_events WHERE topic LIKE "
                                 "'towns:Application.Evaluated' LIMIT 1").fetchone()
    changed(db, rowid, bytes(state).replace(b'"', b"", 1))  # an event the audit view cannot read
    assert "1 set aside" in towns("projections", "rebuild", "audit", db=db).stdout
    changed(db, rowid, state)  # mended: a retry takes it
    quiet_db, showing_db = copies(db, tmp_path)
    quiet = towns("projections", "retry", "audit", db=quiet_db)
    showing = towns("projections", "retry", "audit", db=showing_db, showing=True)
    assert quiet.stdout == "audit: 1 tried, 1 taken, 0 still set aside (rebuilt from zero)\n"
    assert showing.stdout == quiet.stdout
    with closing(sqlite3.connect(showing_db)) as c:
        head = c.execute("SELECT max(rowid) FROM stored_events").fetchone()[0]
    steps = reported(showing.stderr, "towns projections retry audit")
    assert len(steps) > 2 and steps[-1] == (head, head)
    assert [done for done, _ in steps] == sorted(done for done, _ in steps)
    assert last_line(showing.stderr, "towns projections retry audit").startswith(
        f"towns projections retry audit: {head:,} of {head:,} events (100%) in ")


def test_the_deadline_check_tells_the_applications_on_stderr_and_prints_the_same(
        demo, tmp_path):
    applications = int(re.search(rf"^{CALL}: (\d+) applications", demo[0].stdout, re.MULTILINE).group(1))
    quiet_db, showing_db = copies(demo[1], tmp_path)
    args = ("deadlines", "check", "--call", CALL, "--as-of", "2017-04-05T00:00:00+08:00")
    quiet = towns(*args, db=quiet_db)
    showing = towns(*args, db=showing_db, showing=True)
    assert showing.stdout == quiet.stdout
    assert "open applications checked" in quiet.stdout and "(it had run before)" in quiet.stdout
    what = f"towns deadlines check {CALL}"
    chunks = list(range(10, applications, 10)) + [applications]
    assert reported(showing.stderr, what) == [(n, applications) for n in chunks]
    assert last_line(showing.stderr, what).startswith(
        f"{what}: {applications} of {applications} applications (100%) in ")
