"""The auditor's walk, as processes on the embedded default: a signing key and a witness folder,
`towns demo --fresh` signs and witnesses its heads, `towns audit verify` answers against the
witness; then someone deletes an application's last event from the store (its own chain still
holds: nothing after it links to it) and rebuilds the audit view: the rebuild is refused and
verify fails naming the record. An export checks offline with the public key alone."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def towns(*args: str, env: dict) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "adapters.cli", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=600)


@pytest.fixture(scope="module")
def deployment(tmp_path_factory):
    folder = tmp_path_factory.mktemp("evidence")
    env = {k: v for k, v in os.environ.items() if not k.startswith("TOWNS_")}
    env.update(TOWNS_DATABASE_URL=f"sqlite:///{folder}/towns.db",
               TOWNS_SIGNING_KEY=str(folder / "signing.pem"),
               TOWNS_WITNESS_DIR=str(folder / "witness"))
    made = towns("audit", "keygen", env["TOWNS_SIGNING_KEY"], env=env)
    assert made.returncode == 0, made.stderr
    assert (folder / "signing.pem").stat().st_mode & 0o777 == 0o600
    demo = towns("demo", "--fresh", env=env)
    assert demo.returncode == 0, demo.stderr[-3000:]
    return folder, env, demo.stdout


def test_the_demo_signs_and_witnesses_and_verify_answers_against_the_witness(deployment):
    folder, env, demo = deployment
    assert "evidence: the log's first" in demo and "agree with the witnessed heads" in demo
    lines = (folder / "witness" / "tree-heads.jsonl").read_text().splitlines()
    heads = [json.loads(line) for line in lines]
    assert heads and all(h["signature"] and h["key_id"] for h in heads)
    done = towns("audit", "verify", "--json", env=env)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["ok"] is True and result["evidence"]["latest_head"] == heads[-1]


def test_an_export_checks_offline_with_the_public_key_alone(deployment):
    folder, env, _ = deployment
    key = folder / "public.pem"
    printed = towns("audit", "public-key", env=env)
    assert printed.returncode == 0 and printed.stdout.startswith("-----BEGIN PUBLIC KEY-----")
    key.write_text(printed.stdout)
    out = folder / "trail.json"
    made = towns("audit", "export", "--call", "GD-ITOWN-2017-B2", "--format", "json", "--out",
                 str(out), env=env)
    assert made.returncode == 0, made.stderr
    offline = {k: v for k, v in env.items() if k != "TOWNS_SIGNING_KEY"}
    checked = towns("audit", "check-export", str(out), "--public-key", str(key), env=offline)
    assert checked.returncode == 0 and "verified" in checked.stdout, checked.stderr
    script = subprocess.run([sys.executable, str(ROOT / "scripts" / "check_export.py"), str(out),
                             str(key)], capture_output=True, text=True, timeout=120)
    assert script.returncode == 0 and script.stdout.strip() == "export: verified"


def test_a_deleted_last_event_is_caught_and_its_rebuild_refused(deployment):
    folder, env, _ = deployment
    db = sqlite3.connect(folder / "towns.db")
    with db:
        origin, version, position = db.execute(
            "SELECT originator_id, MAX(originator_version), rowid FROM stored_events WHERE topic "
            "LIKE 'towns:Application.%' GROUP BY originator_id HAVING MAX(originator_version) > 2 "
            "ORDER BY rowid LIMIT 1").fetchone()
        position = db.execute("SELECT rowid FROM stored_events WHERE originator_id = ? AND "
                              "originator_version = ?", (origin, version)).fetchone()[0]
        db.execute("DELETE FROM stored_events WHERE originator_id = ? AND originator_version = ?",
                   (origin, version))
    db.close()
    rebuild = towns("projections", "rebuild", "audit", "--reason", "tidy up", env=env)
    assert rebuild.returncode == 1 and "not switched" in rebuild.stderr
    done = towns("audit", "verify", "--json", env=env)
    assert done.returncode == 1
    difference = json.loads(done.stdout)["evidence"]["first_difference"]
    assert difference["witnessed_position"] == position
