"""Every operator action is an event of the log with who, when and why: a projection rebuild
and a deadline check by hand (the commands, as processes), each start of a process with another
configuration than the last one recorded, and each change of the key that signs tree heads.
(A re-drive is checked in ``test_publish_redrive``.)"""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from adapters.bootstrap import build_towns
from adapters.audit.evidence.actions import local_actor, recent, record_start
from adapters.audit.evidence.heads import Signer
from domain.operations import Deployment, OperatorAction

ROOT = Path(__file__).resolve().parents[2]


def towns_cli(*args: str, db: Path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TOWNS_")}
    env["TOWNS_DATABASE_URL"] = f"sqlite:///{db}"
    return subprocess.run([sys.executable, "-m", "adapters.cli", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120)


def test_a_rebuild_and_a_deadline_check_by_hand_are_recorded_with_who_and_why(tmp_path, config):
    db = tmp_path / "towns.db"
    done = towns_cli("projections", "rebuild", "summaries", "--reason", "a bad migration",
                     db=db)
    assert done.returncode == 0, done.stderr
    done = towns_cli("deadlines", "check", "--call", "GD-ITOWN-2017-B2", "--reason",
                     "the scheduler was down", db=db)
    assert done.returncode == 0, done.stderr
    towns = build_towns(config, f"sqlite:///{db}")
    try:
        actions = recent(towns)
        taken = [e for e in towns.events_with_topics([OperatorAction.Taken.TOPIC])]
    finally:
        towns.close()
    by_action = {a["action"]: a for a in actions}
    rebuild, check = by_action["projections.rebuild"], by_action["deadlines.check"]
    assert (rebuild["actor"], rebuild["reason"]) == (local_actor(), "a bad migration")
    assert rebuild["details"] == {"projection": "summaries"}
    assert (check["actor"], check["reason"]) == (local_actor(), "the scheduler was down")
    assert check["details"]["call_id"] == "GD-ITOWN-2017-B2"
    assert len(taken) == 2 and all(e.timestamp.tzinfo is not None for e in taken)


def test_a_changed_configuration_and_a_changed_key_are_recorded_once_each(towns, config):
    key_a, key_b = Signer(Ed25519PrivateKey.generate()), Signer(Ed25519PrivateKey.generate())
    assert record_start(towns, config, key_a, "worker")  # first start: both recorded
    assert record_start(towns, config, key_a, "serve") == []  # nothing changed
    later = dataclasses.replace(config.calls["GD-ITOWN-2017-B2"],
                                cutoff=config.calls["GD-ITOWN-2017-B2"].cutoff + timedelta(days=1))
    changed = dataclasses.replace(config, calls={**config.calls, later.id: later})
    assert [r.split()[0] for r in record_start(towns, changed, key_a, "serve")] == ["configuration"]
    assert [r.split()[0] for r in record_start(towns, changed, key_b, "worker")] == ["signing"]
    events = list(towns.events_with_topics([Deployment.ConfigurationChanged.TOPIC,
                                            Deployment.SigningKeyChanged.TOPIC]))
    configs = [e for e in events if isinstance(e, Deployment.ConfigurationChanged)]
    keys = [e for e in events if isinstance(e, Deployment.SigningKeyChanged)]
    assert [c.process for c in configs] == ["worker", "serve"]
    assert configs[1].calls[0]["cutoff"] == later.cutoff.isoformat()
    assert configs[0].config_hash != configs[1].config_hash
    assert [(k.key_id, k.previous_key_id) for k in keys] == [(key_a.key_id, None),
                                                            (key_b.key_id, key_a.key_id)]
    assert all(e.actor == local_actor() for e in events)
