"""Freeze the rows this version of the service writes to its event store, as test fixtures.

The command line of ``scripts/freeze_stored_events.py`` (see its docstring): the generation's
folder, both stores frozen into it, and ``manifest.json``.
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
from datetime import datetime
from importlib.metadata import version as package_version
from pathlib import Path

from adapters.config import load_config

from . import ROOT
from .stores import freeze_postgres, freeze_sqlite

DEFAULT_OUT = ROOT / "tests" / "fixtures" / "stored"
DEFAULT_POSTGRES = "postgresql://postgres@127.0.0.1:5432/test"


def git(*args: str) -> str | None:
    try:
        return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True,
                              check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--name", default="gen-1", help="the generation's folder under --out")
    parser.add_argument("--postgres", default=DEFAULT_POSTGRES, help="a database to make a schema in")
    parser.add_argument("--force", action="store_true", help="overwrite an existing generation")
    parser.add_argument("--git-commit", help="the commit this tree is an exact copy of (run from "
                        "`git archive COMMIT`, so that the rows are that commit's and no one's edits)")
    args = parser.parse_args(argv)
    out = args.out / args.name
    if out.exists() and not args.force:
        parser.error(f"{out} exists: a generation, once committed, is never written again "
                     "(give another --name)")
    out.mkdir(parents=True, exist_ok=True)
    config = load_config()
    stores = {"sqlite": freeze_sqlite(config, out),
              "postgres": freeze_postgres(config, out, args.postgres)}
    status = None if args.git_commit else git("status", "--porcelain")
    manifest = {
        "generation": args.name,
        "written_at": datetime.now().astimezone().isoformat(),
        "writer": {
            "script": "scripts/freeze_stored_events.py",
            "eventsourcing": package_version("eventsourcing"),
            "python": platform.python_version(),
            "git_commit": args.git_commit or git("rev-parse", "HEAD"),
            "git_dirty": False if args.git_commit else (bool(status) if status is not None else None),
        },
        "encoding": "one JSON object per row: 'table' (events or snapshots) and every column "
                    "as stored; bytes (state) in base64, ids as text",
        "stores": stores,
    }
    (out / "manifest.json").write_text(
        json.dumps(manifest, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    for store, info in stores.items():
        counts = {k: v["rows"] for k, v in info["tables"].items()}
        print(f"{store}: {counts}, {len(info['expect']['event_topics'])} topics -> {out}")
    return 0

