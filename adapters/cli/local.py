"""The embedded default's commands: the demo, replay, and the HTTP server."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from adapters import collector
from adapters.inbound.batch import SHIPPED_BATCH
from adapters.bootstrap import build_runtime, build_towns, database_url
from adapters.cli.common import Failure, instant, whole
from adapters.config import load_config

def register(commands) -> None:
    demo = commands.add_parser("demo", help="run the 2017 batch on the embedded default and report")
    demo.add_argument("--batch", type=Path, default=SHIPPED_BATCH, help="JSONL batch to send")
    demo.add_argument(
        "--fresh", action="store_true", help="start from an empty store (SQLite files only)"
    )
    demo.set_defaults(run=run_demo)

    replay = commands.add_parser("replay", help="an application's history and its state at a point")
    replay.add_argument("call")
    replay.add_argument("ref")
    replay.add_argument("--as-of", type=instant, help="business time (occurred_at)")
    replay.add_argument("--known-at", type=instant, help="record time: as the service knew it then")
    replay.add_argument("--version", type=whole(1, what="a version"),
                        help="after this many events (1 or more)")
    replay.set_defaults(run=run_replay)
    serve = commands.add_parser("serve", help="the HTTP API and web page")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=whole(0, 65535, "a port"), default=8080)
    serve.add_argument("--threads", type=whole(1, what="the number of threads"), default=8)
    serve.set_defaults(run=run_serve)


def run_demo(args: argparse.Namespace) -> None:
    from adapters.audit.verify import failure
    from adapters.cli.progress import progress
    from adapters.inbound.demo import check, report, run_batch

    url = database_url()
    if args.fresh:
        _remove_sqlite(url)
    config = load_config()
    runtime = build_runtime(config, url, process="demo")  # always the in-process broker and worker
    try:
        print(f"towns demo: {args.batch.name} into {url}", flush=True)
        with progress("towns demo", "batch lines") as on_progress:
            result = run_batch(runtime.towns, config, args.batch, on_progress)
        runtime.drain()
        runtime.sign_head()  # the whole batch under a signed, witnessed head
        with progress("towns demo audit", "records") as on_progress:
            checked = check(runtime, on_progress)
        audit = report(runtime, config, result, sys.stdout, checked)
    finally:
        runtime.close()
    problem = failure(audit)
    if problem is not None:  # the report is printed, and the command fails
        raise Failure(f"audit: {problem}")


def _remove_sqlite(url: str) -> None:
    if not url.startswith("sqlite:///"):
        raise Failure("--fresh only empties a SQLite store; point TOWNS_DATABASE_URL at one")
    path = Path(url[len("sqlite:///") :])
    for suffix in ("", "-wal", "-shm", "-journal"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)


def run_replay(args: argparse.Namespace) -> None:
    from adapters.cli.replay_view import print_replay

    config = load_config()
    towns = build_towns(config)
    replay = towns.replay(args.call, args.ref, args.as_of, args.known_at, args.version)
    broken = replay.chain_break
    highest = max([e.originator_version for e in replay.events] + [broken.version if broken else 0])
    if args.version is not None and args.version > highest:
        raise Failure(f"{args.call} {args.ref} has no version {args.version}: "
                      f"its highest is {highest}")
    print_replay(replay, args, sys.stdout)
    if broken is not None:  # the history is printed, and the command fails
        reason = " ".join(broken.reason.split())[:300]
        raise Failure(f"{args.call} {args.ref}: hash chain broken at version {broken.version}: "
                      f"{reason}")


def run_serve(args: argparse.Namespace) -> None:
    from adapters.http.server import serve

    from adapters.amqp.topology import amqp_url

    config = load_config()
    runtime = build_runtime(config, amqp_url=amqp_url(), process="serve")  # nudges the projections
    collector.settle()
    serve(runtime.towns, config, args.host, args.port, args.threads, close=runtime.close,
          runner=runtime.runner)
