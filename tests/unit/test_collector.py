"""The collector's thresholds (``adapters.collector``): set by every ``towns`` command, in
the process that runs it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from adapters.collector import THRESHOLDS, YOUNG

ROOT = Path(__file__).resolve().parents[2]


def test_a_towns_command_runs_with_the_young_generation_collected_every_10000(tmp_path):
    # `towns audit keygen` run in a process of its own (thresholds are per process), which
    # then prints the thresholds it ran with
    program = ("import gc, json, sys; from adapters.cli import main; "
               "code = main(['audit', 'keygen', sys.argv[1]]); "
               "print(json.dumps([code, gc.get_threshold()]))")
    env = {k: v for k, v in os.environ.items() if not k.startswith("TOWNS_")}
    plain = subprocess.run([sys.executable, "-c", "import gc; print(gc.get_threshold()[0])"],
                           cwd=ROOT, env=env, capture_output=True, text=True, check=True)
    assert int(plain.stdout) != YOUNG  # the interpreter's own
    done = subprocess.run([sys.executable, "-c", program, str(tmp_path / "signing.key")],
                          cwd=ROOT, env=env, capture_output=True, text=True, check=True)
    code, thresholds = json.loads(done.stdout.splitlines()[-1])
    assert code == 0 and (tmp_path / "signing.key").exists()
    assert tuple(thresholds) == THRESHOLDS and THRESHOLDS[0] == YOUNG == 10_000
