"""The collector's settings (``adapters.collector``): every ``towns`` command runs with its
thresholds, and a long-running one also freezes what start-up built."""

from __future__ import annotations

import gc
import json
import os
import subprocess
import sys
import threading
from pathlib import Path

from adapters import collector

ROOT = Path(__file__).resolve().parents[2]


def test_a_towns_command_runs_with_young_collections_every_50000_allocations(tmp_path):
    # `towns audit keygen`, in a process of its own (thresholds are per process), which then
    # prints the thresholds it ran with
    program = ("import gc, json, sys; from adapters.cli import main; "
               "code = main(['audit', 'keygen', sys.argv[1]]); "
               "print(json.dumps([code, gc.get_threshold()]))")
    env = {k: v for k, v in os.environ.items() if not k.startswith("TOWNS_")}
    own = subprocess.run([sys.executable, "-c", "import gc; print(gc.get_threshold()[0])"],
                         cwd=ROOT, env=env, capture_output=True, text=True, check=True)
    assert int(own.stdout) == 700  # the interpreter's own
    done = subprocess.run([sys.executable, "-c", program, str(tmp_path / "signing.key")],
                          cwd=ROOT, env=env, capture_output=True, text=True, check=True)
    code, thresholds = json.loads(done.stdout.splitlines()[-1])
    assert code == 0 and (tmp_path / "signing.key").exists()
    assert tuple(thresholds) == collector.THRESHOLDS == (50_000, 20, 100)


def test_settle_freezes_start_up_sets_the_thresholds_and_collects_in_full_on_a_timer():
    before = gc.get_threshold()
    full = threading.Event()

    def seen(phase: str, info: dict) -> None:
        if phase == "stop" and info["generation"] == 2 and threading.current_thread() is thread:
            full.set()

    thread, stop = None, threading.Event()
    gc.callbacks.append(seen)
    try:
        thread = collector.settle(every=0.05, stop=stop)
        assert gc.get_threshold() == collector.THRESHOLDS
        assert gc.get_freeze_count() > 0
        assert thread.daemon and thread.name == "towns-gc"
        assert full.wait(10), "no full collection from the collector's thread"
        assert collector.FULL_EVERY == 60.0
    finally:
        stop.set()
        if thread is not None:
            thread.join(5)
            assert not thread.is_alive()
        gc.callbacks.remove(seen)
        gc.unfreeze()
        gc.set_threshold(*before)
