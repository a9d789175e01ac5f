"""The workers' commands: the worker process, projections, the deadline check by hand."""

from __future__ import annotations

import argparse
import logging
import signal
from datetime import datetime, timezone

from adapters.bootstrap import build_runtime, build_towns, database_url
from adapters.cli.common import (Failure, instant, log_to_stderr, seconds, serve_metrics,
                                 settle_memory, whole)
from adapters.config import load_config

def register(commands) -> None:
    worker = commands.add_parser(
        "worker",
        help="the dramatiq workers (deadline checks, projections)",
        description=(
            "Consumes the actors' queues (towns.projections, towns.deadlines): on RabbitMQ with "
            "TOWNS_AMQP_URL, else in this process. Every --tick seconds it runs the deadline "
            "scheduler (checks due and not done are sent; the first beat catches up the ones "
            "that came due while nothing ran) and nudges every projection to catch up. "
            "SIGTERM or SIGINT finishes the messages in hand and exits 0."
        ),
    )
    worker.add_argument("--tick", type=seconds, default=5.0, metavar="SECONDS",
                        help="seconds between scheduler ticks and catch-up nudges (default 5)")
    worker.add_argument("--threads", type=whole(1, what="the number of threads"), default=4,
                        help="worker threads on RabbitMQ (default 4; the embedded worker has 1)")
    worker.set_defaults(run=run_worker)

    views = commands.add_parser("projections", help="how far each read model is behind; rebuild")
    view_commands = views.add_subparsers(dest="projections_command", required=True, metavar="ACTION")
    status = view_commands.add_parser("status", help="each projection's position, the log's head, the lag")
    status.set_defaults(run=run_projections_status)
    rebuild = view_commands.add_parser(
        "rebuild", help="rebuild a projection (all when no NAME) from zero beside the live one, then switch"
    )
    rebuild.add_argument("name", nargs="?", metavar="NAME")
    rebuild.set_defaults(run=run_projections_rebuild)

    deadlines = commands.add_parser("deadlines", help="the deadline check")
    deadline_commands = deadlines.add_subparsers(dest="deadlines_command", required=True, metavar="ACTION")
    check = deadline_commands.add_parser(
        "check",
        help="run a call's deadline check now",
        description=(
            "Runs the call's deadline check as of --as-of (default: now): every open "
            "application short of the condition at the cutoff lapses. Before cutoff + grace "
            "it is not due and changes nothing; running it again changes nothing."
        ),
    )
    check.add_argument("--call", required=True, metavar="CALL")
    check.add_argument("--as-of", type=instant, metavar="T", help="an ISO 8601 instant with an offset")
    check.set_defaults(run=run_deadlines_check)


def run_worker(args: argparse.Namespace) -> None:
    import threading

    from adapters.amqp.topology import amqp_url
    from workers.broker import QUEUES
    from workers.ticker import Ticker

    log_to_stderr()
    serve_metrics()  # on TOWNS_METRICS_PORT, when set
    url = amqp_url()
    runtime = build_runtime(load_config(), amqp_url=url, consume=True,
                            threads=args.threads if url else 1)
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    settle_memory()
    where = "RabbitMQ" if url else "the in-process broker"
    logging.getLogger("towns.worker").info(
        "towns worker: consuming %s on %s with %d threads; a beat every %gs",
        ", ".join(QUEUES), where, runtime.worker.worker_threads, args.tick)
    try:
        Ticker(runtime.schedule, runtime.nudge, args.tick).run(stop)
    finally:
        runtime.close()
    logging.getLogger("towns.worker").info("towns worker: stopped")


def _runner(towns):
    from adapters.runtime import build_runner

    return build_runner(towns, database_url())


def run_projections_status(args: argparse.Namespace) -> None:
    towns = build_towns(load_config())
    runner = _runner(towns)
    try:
        rows = runner.status()
    finally:
        runner.store.close()
        towns.close()
    print(f"{'projection':<20}{'position':>12}{'head':>12}{'lag':>10}")
    for row in rows:
        print(f"{row.name:<20}{row.position:>12}{row.head:>12}{row.lag:>10}")


def run_projections_rebuild(args: argparse.Namespace) -> None:
    from projections.runner import Busy

    towns = build_towns(load_config())
    runner = _runner(towns)
    try:
        names = list(runner.projections) if args.name is None else [args.name]
        for name in names:
            if name not in runner.projections:
                raise Failure(f"no projection {name!r} (known: {', '.join(runner.projections)})")
        for name in names:
            print(f"rebuilt {name} up to position {runner.rebuild(name)}", flush=True)
    except Busy as error:
        raise Failure(str(error)) from None
    finally:
        runner.store.close()
        towns.close()


def run_deadlines_check(args: argparse.Namespace) -> None:

    from adapters.amqp.topology import amqp_url

    runtime = build_runtime(load_config(), amqp_url=amqp_url())
    try:
        call = runtime.towns.call(args.call)
        now = datetime.now(timezone.utc)
        run = runtime.towns.check_deadline(call.id, args.as_of or now)
        if run.due:
            runtime.schedule.done(call.id, call.cutoff.isoformat(), now)
            if runtime.embedded:
                runtime.drain()  # the views show what the check did before this returns
    finally:
        runtime.close()
    if not run.due:
        print(f"deadline check {call.id} as of {run.as_of.isoformat()}: not due; it runs at "
              f"{call.check_due_at.isoformat()} (cutoff {call.cutoff.isoformat()} + "
              f"{call.grace_seconds}s grace)")
        return
    again = "" if run.first_run else " (it had run before)"
    print(f"deadline check {call.id} as of {run.as_of.isoformat()}: {run.checked} open "
          f"applications checked, {len(run.lapsed)} lapsed: {', '.join(run.lapsed) or '-'}{again}")
