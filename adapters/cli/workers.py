"""The workers' commands: the worker process, projections, the deadline check by hand."""

from __future__ import annotations

import argparse
import logging
import signal
from datetime import datetime, timezone

from adapters import collector
from adapters.bootstrap import build_runtime, build_towns, database_url
from adapters.cli.common import (Failure, instant, log_to_stderr, reason_option, seconds,
                                 serve_metrics, whole)
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

    views = commands.add_parser(
        "projections", help="how far each read model is behind; rebuild; events set aside")
    view_commands = views.add_subparsers(dest="projections_command", required=True, metavar="ACTION")
    status = view_commands.add_parser(
        "status", help="each projection's position, the log's head, the lag, events set aside")
    status.set_defaults(run=run_projections_status)
    rebuild = view_commands.add_parser(
        "rebuild", help="rebuild a projection (all when no NAME) from zero beside the live one, then switch"
    )
    rebuild.add_argument("name", nargs="?", metavar="NAME")
    reason_option(rebuild)
    rebuild.set_defaults(run=run_projections_rebuild)
    aside = view_commands.add_parser(
        "set-aside", help="the events a projection could not take and set aside",
        description="Lists the events set aside (all projections when no NAME): position, "
                    "topic, application (id and version), attempts, reason; never their data.")
    aside.add_argument("name", nargs="?", metavar="NAME")
    aside.add_argument("--all", action="store_true", help="taken ones (retried) too")
    aside.add_argument("--limit", type=whole(1, what="the limit"), default=100,
                       help="at most this many (default 100)")
    aside.set_defaults(run=run_projections_set_aside)
    retry = view_commands.add_parser(
        "retry", help="try set-aside events again (all projections when no NAME)",
        description="Tries a projection's set-aside events again. One that now applies is "
                    "taken by rebuilding the projection from zero (views fold events in log "
                    "order), and its record is marked retried; one that still fails stays set "
                    "aside with one attempt more.")
    retry.add_argument("name", nargs="?", metavar="NAME")
    retry.add_argument("--position", type=whole(1, what="a log position"), metavar="P",
                       help="only the event at this log position (needs NAME)")
    reason_option(retry)
    retry.set_defaults(run=run_projections_retry)

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
    reason_option(check)
    check.set_defaults(run=run_deadlines_check)


def run_worker(args: argparse.Namespace) -> None:
    import threading

    from adapters.amqp.topology import amqp_url
    from adapters.ops import lag_samples
    from workers.pacing import Pacer
    from workers.queues import QUEUES
    from workers.store_wait import StoreWait
    from workers.ticker import Ticker

    log_to_stderr()
    serve_metrics()  # on TOWNS_METRICS_PORT, when set
    url = amqp_url()
    runtime = build_runtime(load_config(), amqp_url=url, consume=True,
                            threads=args.threads if url else 1, process="worker")
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    collector.settle()
    runtime.installed.store_wait = store_wait = StoreWait()
    runtime.installed.pacer = pacer = Pacer(runtime.broker.get_actor("project").send)
    where = "RabbitMQ" if url else "the in-process broker"
    logging.getLogger("towns.worker").info(
        "towns worker: consuming %s on %s with %d threads; a beat every %gs",
        ", ".join(QUEUES), where, runtime.worker.worker_threads, args.tick)
    try:
        Ticker(runtime.schedule, runtime.nudge, args.tick, store_wait=store_wait,
               catch_up=runtime.catch_up(),
               sample=lambda: lag_samples.record(runtime.installed.runner)).run(stop)
    finally:
        pacer.close()
        runtime.close()
    logging.getLogger("towns.worker").info("towns worker: stopped")


def _runner(towns):
    from adapters.bootstrap import build_runner

    return build_runner(towns, database_url())


def run_projections_status(args: argparse.Namespace) -> None:
    towns = build_towns(load_config())
    runner = _runner(towns)
    try:
        rows = runner.status()
        aside = {row.name: runner.set_aside([row.name], limit=SHOWN)
                 for row in rows if row.set_aside}
    finally:
        runner.store.close()
        towns.close()
    print(f"{'projection':<20}{'position':>12}{'head':>12}{'lag':>10}{'set_aside':>11}")
    for row in rows:
        print(f"{row.name:<20}{row.position:>12}{row.head:>12}{row.lag:>10}{row.set_aside:>11}")
    for row in rows:
        if row.set_aside:
            positions = ", ".join(str(r.position) for r in aside[row.name])
            more = ", ..." if row.set_aside > len(aside[row.name]) else ""
            print(f"{row.name}: {row.set_aside} set aside at {positions}{more} "
                  f"(towns projections set-aside {row.name})")


SHOWN = 10
"""Positions of set-aside events that ``projections status`` names per projection."""


def run_projections_set_aside(args: argparse.Namespace) -> None:
    towns = build_towns(load_config())
    runner = _runner(towns)
    try:
        names = _known(runner, args.name)
        found = runner.set_aside(names if args.name else [], not args.all, limit=args.limit + 1)
    finally:
        runner.store.close()
        towns.close()
    print(f"{'projection':<20}{'position':>10}  {'topic':<36}{'application':<40}{'attempts':>9}"
          f"  {'retried_at':<33}reason")
    for r in found[: args.limit]:
        app = f"{r.originator_id} v{r.originator_version}" if r.originator_id else "-"
        print(f"{r.name:<20}{r.position:>10}  {r.topic:<36}{app:<40}{r.attempts:>9}"
              f"  {r.retried_at or '-':<33}{r.reason}")
    if len(found) > args.limit:
        print(f"... more than {args.limit}: --limit shows more")


def run_projections_retry(args: argparse.Namespace) -> None:
    from adapters.cli.progress import progress
    from domain.operations import RETRY
    from projections.runner import Busy, NotSetAside, RebuildRefused

    if args.position is not None and args.name is None:
        raise Failure("--position needs the NAME of the projection")
    towns = build_towns(load_config())
    runner = _runner(towns)
    _guarded(runner)
    try:
        names = _known(runner, args.name)
        for name in names:
            _record(towns, RETRY, args, {"projection": name, "position": args.position})
        for name in names:
            with progress(f"towns projections retry {name}", "events") as on_progress:
                done = runner.retry(name, args.position, on_progress)
            if not done.tried:
                print(f"{name}: nothing set aside")
                continue
            how = "rebuilt from zero" if done.rebuilt else "not rebuilt: none applies yet"
            print(f"{name}: {len(done.tried)} tried, {len(done.taken)} taken, {len(done.still)} "
                  f"still set aside ({how})", flush=True)
    except (Busy, NotSetAside, RebuildRefused) as error:
        raise Failure(str(error).strip("'\"")) from None
    finally:
        runner.store.close()
        towns.close()


def _known(runner, name: str | None) -> list[str]:
    """``name`` as a list, or every projection when None; Failure for an unknown one."""
    if name is not None and name not in runner.projections:
        raise Failure(f"no projection {name!r} (known: {', '.join(runner.projections)})")
    return list(runner.projections) if name is None else [name]


def _guarded(runner) -> None:
    """The audit view switches to a rebuild only where it agrees with the witnessed heads."""
    from adapters.audit.evidence.verify import from_env, rebuild_check

    runner.switch_checks["audit"] = rebuild_check(*from_env())


def _record(towns, action: str, args: argparse.Namespace, details: dict) -> None:
    from adapters.audit.evidence.actions import local_actor, record_action

    record_action(towns, action, local_actor(), args.reason, details)


def run_projections_rebuild(args: argparse.Namespace) -> None:
    from adapters.cli.progress import progress
    from domain.operations import REBUILD
    from projections.runner import Busy, RebuildRefused

    towns = build_towns(load_config())
    runner = _runner(towns)
    _guarded(runner)
    try:
        names = _known(runner, args.name)
        for name in names:  # recorded first: each rebuild then holds every record
            _record(towns, REBUILD, args, {"projection": name})
        for name in names:
            with progress(f"towns projections rebuild {name}", "events") as on_progress:
                position = runner.rebuild(name, on_progress=on_progress)
            aside = len(runner.set_aside([name]))
            note = f"; {aside} set aside (towns projections set-aside {name})" if aside else ""
            print(f"rebuilt {name} up to position {position}{note}", flush=True)
    except (Busy, RebuildRefused) as error:
        raise Failure(str(error)) from None
    finally:
        runner.store.close()
        towns.close()


def run_deadlines_check(args: argparse.Namespace) -> None:
    from adapters.amqp.topology import amqp_url
    from adapters.cli.progress import progress

    runtime = build_runtime(load_config(), amqp_url=amqp_url())
    try:
        from domain.operations import DEADLINE_CHECK

        call = runtime.towns.call(args.call)
        now = datetime.now(timezone.utc)
        _record(runtime.towns, DEADLINE_CHECK, args,
                {"call_id": call.id, "as_of": (args.as_of or now).isoformat()})
        with progress(f"towns deadlines check {call.id}", "applications") as on_progress:
            run = runtime.towns.check_deadline(call.id, args.as_of or now,
                                               on_progress=on_progress)
        if run.due:
            runtime.schedule.done(call.id, call.cutoff.isoformat(), now)
            runtime.sign_head()  # the check's outcome under a signed head at once
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
