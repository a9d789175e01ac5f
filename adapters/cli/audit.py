"""The auditors' commands: verify the hash chains, export the trail."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from adapters.bootstrap import build_towns, database_url
from adapters.cli.common import Failure
from adapters.config import load_config

def register(commands) -> None:
    audit = commands.add_parser("audit", help="check the hash chains; export the audit trail")
    audit_commands = audit.add_subparsers(dest="audit_command", required=True, metavar="ACTION")
    verify = audit_commands.add_parser(
        "verify",
        help="recompute every application's hash chain and the whole log's chain",
        description=(
            "Catches the audit projection up, then recomputes every application's hash chain "
            "and the chain over the whole notification log against the audit trail and its "
            "checkpoints. Prints a summary; exits 0 when intact, 1 naming the first break."
        ),
    )
    verify.add_argument("--json", action="store_true",
                        help='print {"ok", "events_checked", "first_break", ...} as JSON')
    verify.set_defaults(run=run_audit_verify)
    export = audit_commands.add_parser(
        "export",
        help="a call's audit trail, checkable offline",
        description=(
            "Writes every application event of the call in log order with the last checkpoint "
            "of the log's chain. JSON: {call_id, exported_at, checkpoint, chain_head, events}. "
            "CSV: a header row, one row per event, and a final comment line '# checkpoint "
            "position=... chain_hash=... ...; chain_head ...; call_id=...; exported_at=...'. "
            "How to check it offline: see adapters/audit_export.py."
        ),
    )
    export.add_argument("--call", required=True, metavar="CALL")
    export.add_argument("--format", required=True, choices=("csv", "json"))
    export.add_argument("--out", type=Path, metavar="FILE", help="write here instead of stdout")
    export.set_defaults(run=run_audit_export)


def _audit_runner(towns):
    from projections.audit import AuditTrail
    from projections.runner import ProjectionRunner
    from projections.store import ViewStore

    return ProjectionRunner(towns, ViewStore(database_url()), [AuditTrail()])


def run_audit_verify(args: argparse.Namespace) -> None:
    import json

    from adapters.audit import describe, print_summary, verify

    towns = build_towns(load_config())
    runner = _audit_runner(towns)
    try:
        result = verify(towns, runner)
    finally:
        runner.store.close()
        towns.close()
    if args.json:
        print(json.dumps(result, ensure_ascii=False))
    else:
        print_summary(result, sys.stdout)
    if not result["ok"]:
        raise Failure(f"hash chain broken at {describe(result['first_break'])}")


def run_audit_export(args: argparse.Namespace) -> None:
    from adapters.audit import export, write_csv, write_json

    towns = build_towns(load_config())
    runner = _audit_runner(towns)
    try:
        trail = export(towns, runner, args.call)
    finally:
        runner.store.close()
        towns.close()
    write = write_csv if args.format == "csv" else write_json
    if args.out is None:
        write(trail, sys.stdout)
        return
    try:
        with open(args.out, "w", encoding="utf-8", newline="") as out:
            write(trail, out)
    except OSError as error:
        raise Failure(f"cannot write {args.out}: {error.strerror or error}") from None
    print(f"exported {len(trail['events'])} events of {args.call} to {args.out}")
