"""The shipped demo batch is what ``scripts/make_demo_batch.py`` makes, byte for byte."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "make_demo_batch.py"
SHIPPED = ROOT / "adapters" / "inbound" / "demo_batch.jsonl"


def test_the_generator_makes_the_shipped_demo_batch_byte_for_byte(tmp_path):
    out = tmp_path / "demo_batch.jsonl"
    run = subprocess.run([sys.executable, str(SCRIPT), "--out", str(out)], cwd=tmp_path,
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stdout + run.stderr
    assert f"wrote {len(SHIPPED.read_bytes().splitlines())} lines to {out}" in run.stdout
    assert out.read_bytes() == SHIPPED.read_bytes(), (
        "adapters/inbound/demo_batch.jsonl differs from what scripts/make_demo_batch.py makes: "
        "run the script again, or undo the change to it, to scripts/demo_batch/ or to "
        "scripts/demo_batch_tables.json")
