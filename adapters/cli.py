"""``towns``: the one command line entry point (CONTRACT.md §4).

Exit codes: 0 on success, 1 on a failure explained in one line on stderr, 2 on bad usage.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from datetime import datetime
from pathlib import Path
from urllib.parse import unquote, urlsplit

from adapters.batch import SHIPPED_BATCH, BatchError
from adapters.bootstrap import DatabaseUrlError, build_towns, database_url
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
    consume.add_argument("--batch-ms", type=int, default=_env_int("TOWNS_BATCH_MS", 50),
                         help="longest wait to fill a batch, in ms (TOWNS_BATCH_MS)")
    consume.set_defaults(run=run_consume)
    return top


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
    towns = build_towns(config)
    window = float(os.environ.get("TOWNS_REORDER_WINDOW") or 600)
    user = urlsplit(url).username or "guest"
    inbound = Inbound(towns, config, InboundRecords(towns), window, service_user=unquote(user))
    sys.exit(Consumer(inbound, url, args.batch_size, args.batch_ms).run())


def _log_to_stderr() -> None:
    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format="%(asctime)s %(name)s %(levelname)s %(message)s")
    logging.getLogger("pika").setLevel(logging.WARNING)


def run_serve(args: argparse.Namespace) -> None:
    from adapters.http.server import serve

    config = load_config()
    serve(build_towns(config), config, args.host, args.port, args.threads)


def run_demo(args: argparse.Namespace) -> None:
    from adapters.demo import report, run_batch

    url = database_url()
    if args.fresh:
        _remove_sqlite(url)
    config = load_config()
    towns = build_towns(config, url)
    print(f"towns demo: {args.batch.name} into {url}")
    result = run_batch(towns, config, args.batch)
    report(towns, config, result, sys.stdout)


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
