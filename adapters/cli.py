"""``towns``: the one command line entry point (CONTRACT.md §4).

Exit codes: 0 on success, 1 on a failure explained in one line on stderr, 2 on bad usage.
"""

from __future__ import annotations

import argparse
import getpass
import logging
import os
import signal
import sys
from datetime import datetime
from pathlib import Path
from urllib.parse import unquote, urlsplit
from uuid import UUID

from adapters.batch import SHIPPED_BATCH, BatchError
from adapters.bootstrap import DatabaseUrlError, build_runtime, build_towns, database_url
from adapters.config import ConfigError, load_config
from domain.errors import DomainError


class Failure(Exception):
    """A failure the command explains in one line."""


def instant(text: str) -> datetime:
    """An ISO 8601 instant with an offset."""
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an ISO 8601 instant: {text!r}") from None
    if value.tzinfo is None:
        raise argparse.ArgumentTypeError(f"{text!r} needs an offset, such as +08:00")
    return value


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="towns", description="Guangdong 'Internet+' towns case management")
    commands = top.add_subparsers(dest="command", required=True, metavar="COMMAND")

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
    replay.add_argument("--version", type=int, help="after this many events")
    replay.set_defaults(run=run_replay)
    serve = commands.add_parser("serve", help="the HTTP API and web page")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8080)
    serve.add_argument("--threads", type=int, default=8)
    serve.set_defaults(run=run_serve)
    consume = commands.add_parser("consume", help="the RabbitMQ consumer of towns.inbound")
    consume.add_argument("--batch-size", type=int, default=_env_int("TOWNS_BATCH_SIZE", 100),
                         help="deliveries per group commit (TOWNS_BATCH_SIZE)")
    consume.add_argument("--batch-ms", type=int, default=_env_int("TOWNS_BATCH_MS", 20),
                         help="longest wait to fill a batch, in ms (TOWNS_BATCH_MS)")
    consume.set_defaults(run=run_consume)

    publish = commands.add_parser(
        "publish",
        help="publish a JSONL batch's envelopes to towns.inbound, as an upstream system would",
        description=(
            "Publishes each message of FILE.jsonl (the batch format of `towns demo`) to the "
            "exchange towns.inbound: routing key = the envelope's type ('unknown' when the body "
            "is not a JSON object with a string type), persistent, message_id = the envelope's, "
            "user_id = the amqp_user of the line's principal, or the connecting user's name when "
            "the line names none. RabbitMQ refuses a user_id other than the connecting user's "
            "unless that user has the 'impersonator' tag (rabbitmqctl set_user_tags USER "
            "impersonator): connect as such a user to send as several principals. Control lines "
            "(deadline checks) are skipped. On a broker without the exchange towns.inbound the "
            "service's topology is declared first; an existing one is used as it is, so messages "
            "that no queue takes come back (mandatory) and count as returned. Confirms are "
            "awaited asynchronously; prints "
            "'published N: confirmed C, returned R, failed F' and exits 0 only when every "
            "message was confirmed and none came back unroutable."
        ),
    )
    publish.add_argument("file", type=Path, metavar="FILE.jsonl")
    publish.add_argument("--rate", type=_rate, default=0,
                         help="messages per second (0 or absent: as fast as the broker confirms, "
                              "at most 1000 unconfirmed at a time)")
    publish.add_argument("--url", help="RabbitMQ URL (default: TOWNS_AMQP_URL)")
    publish.set_defaults(run=run_publish)

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

    dead = commands.add_parser("dead-letters", help="inspect and re-drive dead letters")
    dead_commands = dead.add_subparsers(dest="dead_command", required=True, metavar="ACTION")
    listing = dead_commands.add_parser(
        "list", help="the dead letters in the database (open ones unless --all)"
    )
    listing.add_argument("--all", action="store_true", help="include the re-driven ones")
    listing.add_argument("--json", action="store_true",
                         help="one JSON object a line (body as text, or base64 with "
                              'body_encoding "base64")')
    listing.set_defaults(run=run_dead_letters_list)
    requeue = dead_commands.add_parser(
        "requeue",
        help="re-drive dead letters into towns.inbound",
        description=(
            "Publishes each chosen dead letter's stored body to towns.inbound as the service's "
            "own user (the user of TOWNS_AMQP_URL) on behalf of its original sender, takes its "
            "copies off towns.inbound.dead and records who re-drove it and when. --all takes "
            "every open dead letter; --id re-drives the letters named, whatever their state."
        ),
    )
    chosen = requeue.add_mutually_exclusive_group(required=True)
    chosen.add_argument("--id", dest="ids", type=_uuid, nargs="+", action="extend",
                        metavar="ID", help="a dead letter's id (see `towns dead-letters list`)")
    chosen.add_argument("--all", action="store_true", help="every open dead letter")
    requeue.add_argument("--by", metavar="NAME", help="who re-drives them (default: the OS user name)")
    requeue.set_defaults(run=run_dead_letters_requeue)
    _worker_parsers(commands)
    return top


def _worker_parsers(commands) -> None:
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
    worker.add_argument("--tick", type=_seconds, default=5.0, metavar="SECONDS",
                        help="seconds between scheduler ticks and catch-up nudges (default 5)")
    worker.add_argument("--threads", type=int, default=4,
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


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from None
    if not 0 < value < float("inf"):
        raise argparse.ArgumentTypeError(f"a tick is a number of seconds > 0, not {text!r}")
    return value


def _rate(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if value < 0 or value != value or value == float("inf"):
        raise argparse.ArgumentTypeError(f"the rate is a number of messages per second >= 0, not {text!r}")
    return value


def _uuid(text: str) -> UUID:
    try:
        return UUID(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a dead letter id (a UUID): {text!r}") from None


def _env_int(name: str, default: int) -> int:
    try:
        return int(os.environ.get(name, default))
    except ValueError:
        return default


def run_consume(args: argparse.Namespace) -> None:
    from adapters.amqp.consumer import Consumer
    from adapters.amqp.inbound import Inbound
    from adapters.amqp.topology import amqp_url
    from adapters.inbound_records import InboundRecords

    url = amqp_url()
    if not url:
        raise Failure("TOWNS_AMQP_URL is not set: the consumer needs RabbitMQ")
    _log_to_stderr()
    config = load_config()
    runtime = build_runtime(config, amqp_url=url)  # its service nudges the projections per commit
    towns = runtime.towns
    window = float(os.environ.get("TOWNS_REORDER_WINDOW") or 600)
    user = urlsplit(url).username or "guest"
    inbound = Inbound(towns, config, InboundRecords(towns), window, service_user=unquote(user))
    try:
        code = Consumer(inbound, url, args.batch_size, args.batch_ms).run()
    finally:
        runtime.close()
    sys.exit(code)


def run_publish(args: argparse.Namespace) -> None:
    from adapters.amqp.publisher import connecting_user, outgoing, publish
    from adapters.amqp.topology import amqp_url
    from adapters.batch import read_batch

    url = args.url or amqp_url()
    if not url:
        raise Failure("no RabbitMQ: give --url or set TOWNS_AMQP_URL")
    config = load_config()
    try:
        messages, skipped = outgoing(read_batch(args.file, config), connecting_user(url))
    except OSError as error:
        raise Failure(f"cannot read {args.file}: {error.strerror or error}") from None
    except (KeyError, TypeError, ValueError) as error:
        if isinstance(error, BatchError):
            raise
        raise Failure(f"{args.file}: an unusable line: {error!r}") from None
    logging.getLogger("pika").setLevel(logging.CRITICAL)  # failures are reported below

    def interruptible(publisher) -> None:
        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, lambda *_: publisher.stop())

    report = publish(url, messages, args.rate, on_start=interruptible)
    line = report.line()
    if skipped:
        line += f"; skipped {skipped} control line{'s' if skipped != 1 else ''}"
    print(line, flush=True)
    if not report.ok:
        raise Failure(report.reason())


def run_dead_letters_list(args: argparse.Namespace) -> None:
    from adapters.dead_letters_view import print_json_lines, print_table
    from adapters.inbound_records import InboundRecords

    towns = build_towns(load_config())
    try:
        letters = InboundRecords(towns).dead_letters(open_only=not args.all)
    finally:
        towns.close()
    try:
        (print_json_lines if args.json else print_table)(letters, sys.stdout, include_closed=args.all)
        sys.stdout.flush()
    except BrokenPipeError:  # a reader such as `head` stopped early: not a failure
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())


def run_dead_letters_requeue(args: argparse.Namespace) -> None:
    from eventsourcing.persistence import PersistenceError

    from adapters.amqp.redrive import RedriveError, requeue
    from adapters.amqp.topology import amqp_url
    from adapters.inbound_records import InboundRecords

    url = amqp_url()
    if not url:
        raise Failure("TOWNS_AMQP_URL is not set: re-driving needs RabbitMQ")
    logging.getLogger("pika").setLevel(logging.CRITICAL)
    towns = build_towns(load_config())
    try:
        done = requeue(InboundRecords(towns), url, args.ids, args.all, args.by or _os_user())
    except RedriveError as error:
        raise Failure(str(error)) from None
    except PersistenceError as error:
        raise Failure(f"the database failed: {error}") from None
    finally:
        towns.close()
    print(f"requeued {len(done)}")


def _os_user() -> str:
    try:
        return getpass.getuser()
    except Exception:  # noqa: BLE001 - no login name in this environment
        return "unknown"


def _log_to_stderr() -> None:
    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format="%(asctime)s %(name)s %(levelname)s %(message)s")
    logging.getLogger("pika").setLevel(logging.WARNING)


def run_serve(args: argparse.Namespace) -> None:
    from adapters.http.server import serve

    from adapters.amqp.topology import amqp_url

    config = load_config()
    runtime = build_runtime(config, amqp_url=amqp_url())  # its service nudges the projections
    serve(runtime.towns, config, args.host, args.port, args.threads, close=runtime.close)


def run_demo(args: argparse.Namespace) -> None:
    from adapters.demo import report, run_batch

    url = database_url()
    if args.fresh:
        _remove_sqlite(url)
    config = load_config()
    runtime = build_runtime(config, url)  # always the in-process broker and worker
    try:
        print(f"towns demo: {args.batch.name} into {url}")
        result = run_batch(runtime.towns, config, args.batch)
        runtime.drain()
        report(runtime, config, result, sys.stdout)
    finally:
        runtime.close()


def _remove_sqlite(url: str) -> None:
    if not url.startswith("sqlite:///"):
        raise Failure("--fresh only empties a SQLite store; point TOWNS_DATABASE_URL at one")
    path = Path(url[len("sqlite:///") :])
    for suffix in ("", "-wal", "-shm", "-journal"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)


def run_replay(args: argparse.Namespace) -> None:
    from adapters.replay_view import print_replay

    config = load_config()
    towns = build_towns(config)
    replay = towns.replay(args.call, args.ref, args.as_of, args.known_at, args.version)
    print_replay(replay, args, sys.stdout)


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


def run_worker(args: argparse.Namespace) -> None:
    import threading

    from adapters.amqp.topology import amqp_url
    from workers.broker import QUEUES
    from workers.ticker import Ticker

    _log_to_stderr()
    url = amqp_url()
    runtime = build_runtime(load_config(), amqp_url=url, consume=True,
                            threads=args.threads if url else 1)
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
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
        names = [args.name] if args.name else list(runner.projections)
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
    from datetime import timezone

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


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        args.run(args)
    except (Failure, ConfigError, DatabaseUrlError, BatchError) as error:
        print(f"towns {args.command}: {error}", file=sys.stderr)
        return 1
    except DomainError as error:
        print(f"towns {args.command}: {error.code}: {error.message}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
