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
            "Reads the head of the log, then checks every record up to it from its stored "
            "bytes: every application's hash chain, and the chain over the whole notification "
            "log against the audit trail and its checkpoints where the trail recorded it; then "
            "the log's Merkle tree against the signed tree heads read from the witnesses "
            "(TOWNS_WITNESS_DIR's file, the RabbitMQ stream towns.checkpoints), never from "
            "the database. Prints how far it checked and a summary; exits 0 when intact up to "
            "the head, 1 naming the first break, the first record that differs from the "
            "witnessed tree, or where it stopped."
        ),
    )
    verify.add_argument("--json", action="store_true",
                        help='print {"ok", "events_checked", "first_break", "head_at_start", '
                             '"checked_to", ...} as JSON')
    verify.add_argument("--public-key", type=Path, action="append", default=[],
                        metavar="KEYFILE",
                        help="trust tree heads signed by this public key too (repeatable; the "
                             "key of TOWNS_SIGNING_KEY is trusted where it is set)")
    verify.set_defaults(run=run_audit_verify)
    export = audit_commands.add_parser(
        "export",
        help="a call's audit trail, checkable offline",
        description=(
            "Writes every application event of the call in log order with the last checkpoint "
            "of the log's chain, a signed tree head made now, the public key, and per event "
            "its stored record with an inclusion proof against that head. JSON: {call_id, "
            "exported_at, checkpoint, chain_head, events, tree_head, public_key, signature}: "
            "towns audit check-export (or scripts/check_export.py) verifies it offline. "
            "CSV: a header row, one row per event, and a final comment line '# checkpoint "
            "position=... chain_hash=... ...; chain_head ...; call_id=...; exported_at=...'. "
            "How to check it offline: see adapters/audit/export.py."
        ),
    )
    export.add_argument("--call", required=True, metavar="CALL")
    export.add_argument("--format", required=True, choices=("csv", "json"))
    export.add_argument("--out", type=Path, metavar="FILE", help="write here instead of stdout")
    export.set_defaults(run=run_audit_export)
    keygen = audit_commands.add_parser(
        "keygen", help="write a new Ed25519 signing key for tree heads",
        description="Writes a new private key (PKCS#8 PEM, mode 0600) to PATH; an existing file "
                    "is never replaced. Point TOWNS_SIGNING_KEY at it; keep it out of the "
                    "database and its backups.")
    keygen.add_argument("path", type=Path, metavar="PATH")
    keygen.set_defaults(run=run_audit_keygen)
    public = audit_commands.add_parser(
        "public-key", help="print the public key of the key TOWNS_SIGNING_KEY names",
        description="Prints the public key (PEM) that verifies the service's tree heads and "
                    "exports: give it to auditors by a channel of their choosing.")
    public.set_defaults(run=run_audit_public_key)
    check = audit_commands.add_parser(
        "check-export", help="verify an export offline with the public key alone",
        description="Checks a JSON export (towns audit export --format json) with nothing but "
                    "the public key: its bytes, its signature, the signed tree head, every "
                    "event's inclusion proof and every application's hash chain. Exits 0 when "
                    "it verifies, 1 naming the first problem.")
    check.add_argument("file", type=Path, metavar="FILE")
    check.add_argument("--public-key", type=Path, required=True, metavar="KEYFILE",
                       help="a file holding what `towns audit public-key` printed")
    check.set_defaults(run=run_audit_check_export)


def _audit_runner(towns):
    from adapters.store.tables import create_tables
    from projections.audit import AuditTrail
    from projections.runner import ProjectionRunner
    from projections.store import ViewStore

    runner = ProjectionRunner(towns, ViewStore(database_url()), [AuditTrail()])
    create_tables(runner.setup)  # the trail's tables, which verify reads even where nothing projected
    return runner


def run_audit_verify(args: argparse.Namespace) -> None:
    import json

    from adapters.audit.verify import failure, print_summary, verify
    from adapters.cli.progress import progress

    from adapters.audit.evidence.heads import KeyProblem, load_public
    from adapters.audit.evidence.verify import from_env

    try:
        evidence = from_env([load_public(path.read_bytes()) for path in args.public_key])
    except OSError as error:
        raise Failure(f"cannot read {error.filename}: {error.strerror}") from None
    except KeyProblem as error:
        raise Failure(str(error)) from None
    towns = build_towns(load_config())
    runner = _audit_runner(towns)
    try:
        with progress("towns audit verify", "records") as on_progress:
            result = verify(towns, runner, evidence, on_progress)
    finally:
        runner.store.close()
        towns.close()
    if args.json:
        print(json.dumps(result, ensure_ascii=False))
    else:
        print_summary(result, sys.stdout)
    problem = failure(result)
    if problem is not None:
        raise Failure(problem)


def run_audit_export(args: argparse.Namespace) -> None:
    from adapters.amqp.topology import amqp_url
    from adapters.audit.export import export, write_csv, write_json
    from adapters.cli.progress import progress
    from adapters.audit.evidence.checkpoints import Cadence, Checkpoints
    from adapters.audit.evidence.heads import KeyProblem, Signer
    from adapters.audit.evidence.proofs import add_evidence
    from adapters.audit.evidence.witnesses import Witnesses

    try:
        signer = Signer.from_env()
    except KeyProblem as error:
        raise Failure(str(error)) from None
    towns = build_towns(load_config())
    runner = _audit_runner(towns)
    try:
        with progress(f"towns audit export {args.call}", "events") as on_progress:
            trail = export(towns, runner, args.call, on_progress)
        checkpoints = Checkpoints(runner.store, signer, Witnesses.from_env(amqp_url()),
                                  Cadence.from_env())
        checkpoints.setup()
        add_evidence(trail, towns, runner.store, checkpoints)
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


def run_audit_keygen(args: argparse.Namespace) -> None:
    from adapters.audit.evidence.heads import KeyProblem, keygen

    try:
        signer = keygen(args.path)
    except KeyProblem as error:
        raise Failure(str(error)) from None
    print(f"wrote a new signing key {signer.key_id} to {args.path} (mode 0600); "
          f"set TOWNS_SIGNING_KEY={args.path}")


def run_audit_public_key(args: argparse.Namespace) -> None:
    from adapters.audit.evidence.heads import KeyProblem, Signer, public_pem

    try:
        signer = Signer.from_env()
    except KeyProblem as error:
        raise Failure(str(error)) from None
    if signer is None:
        raise Failure("TOWNS_SIGNING_KEY names no key: tree heads are unsigned")
    sys.stdout.write(public_pem(signer.public))


def run_audit_check_export(args: argparse.Namespace) -> None:
    from adapters.audit.evidence.heads import KeyProblem, load_public
    from adapters.audit.evidence.proofs import check_export

    try:
        raw = args.file.read_bytes()
        public = load_public(args.public_key.read_bytes())
    except OSError as error:
        raise Failure(f"cannot read {error.filename}: {error.strerror}") from None
    except KeyProblem as error:
        raise Failure(f"{args.public_key}: {error}") from None
    problem = check_export(raw, public)
    if problem:
        raise Failure(f"export not verified: {problem}")
    print(f"export: verified ({args.file})")
