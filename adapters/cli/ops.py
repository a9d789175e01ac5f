"""The operators' commands: ``towns queues [--watch]``, ``towns migrate-queues``."""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from datetime import datetime, timezone

from eventsourcing.persistence import PersistenceError

from adapters.bootstrap import build_towns, database_url
from adapters.cli.common import Failure, seconds
from adapters.config import load_config

CLEAR = "\033[H\033[2J\033[3J"  # cursor home, clear the screen and its scroll-back


def register(commands) -> None:
    queues = commands.add_parser(
        "queues",
        help="the operators' view of the queues",
        description=(
            "For towns.inbound, towns.inbound.dead and each worker queue with its .DQ and .XQ: "
            "messages ready and unacknowledged, consumers, publish/deliver/ack rates per second, "
            "from RabbitMQ's management API (TOWNS_RABBITMQ_API, default "
            "http://guest:guest@127.0.0.1:15672); where it does not answer, from AMQP (ready and "
            "consumers only) and a note says why. Then each projection's position and lag, the "
            "parked messages, the open dead letters (the database's records, which the dead "
            "queue's depth need not equal: a line says why), and where the figures came from."
        ),
    )
    queues.add_argument("--watch", action="store_true",
                        help="redraw until Ctrl-C, each redraw headed by its time (the call's "
                             "zone and UTC)")
    queues.add_argument("--interval", type=seconds, default=2.0, metavar="S",
                        help="seconds between redraws with --watch (default 2)")
    queues.add_argument("--json", action="store_true", help="print the view as JSON (the API's shape)")
    queues.set_defaults(run=run_queues)

    migrate = commands.add_parser(
        "migrate-queues",
        help="move towns.inbound and towns.inbound.dead to quorum (or classic) queues",
        description=(
            "Moves the messages of towns.inbound and towns.inbound.dead into queues of the type "
            "given, under the same names, on the broker of TOWNS_AMQP_URL, through its management "
            "API (TOWNS_RABBITMQ_API). Publishers may go on publishing; stop `towns consume` first. "
            "No message is lost or doubled; a run stopped in the middle is finished by running it "
            "again. Prints what it did per queue. Afterwards set TOWNS_QUEUE_TYPE to the same type."
        ),
    )
    migrate.add_argument("--to", choices=("quorum", "classic"), default="quorum",
                         help="the queue type to move to (default quorum)")
    migrate.set_defaults(run=run_migrate_queues)


def run_queues(args: argparse.Namespace) -> None:
    from adapters.amqp.topology import amqp_url
    from adapters.store.inbound_records import InboundRecords
    from adapters.ops.queues import api_url, queue_view
    from adapters.ops.queues_table import print_view
    from adapters.bootstrap import build_runner

    logging.getLogger("pika").setLevel(logging.CRITICAL)  # the view's note says what failed
    config = load_config()
    zone = next((c.cutoff.tzinfo for c in config.calls.values()), None)  # the call's, +08:00
    towns = build_towns(config)
    runner = build_runner(towns, database_url())
    records = InboundRecords(towns)
    try:
        while True:
            at = datetime.now(timezone.utc)
            view = queue_view(amqp_url(), api_url(), runner, records)
            if args.watch:
                sys.stdout.write(CLEAR)
            if args.json:
                print(json.dumps(view, ensure_ascii=False))
            else:
                print_view(view, sys.stdout, at if args.watch else None, zone)
            sys.stdout.flush()
            if not args.watch:
                return
            time.sleep(args.interval)
    except KeyboardInterrupt:  # Ctrl-C ends --watch: not a failure
        print()
    except PersistenceError as error:
        raise Failure(f"the database failed: {error}") from None
    finally:
        runner.store.close()
        towns.close()


def run_migrate_queues(args: argparse.Namespace) -> None:
    from adapters.amqp.migration import MigrationError, migrate
    from adapters.amqp.topology import amqp_url
    from adapters.cli.progress import phases
    from adapters.ops.management_api import api_url

    url = amqp_url()
    if not url:
        raise Failure("TOWNS_AMQP_URL is not set: the embedded broker has no queues to migrate")
    logging.getLogger("pika").setLevel(logging.CRITICAL)
    try:
        with phases("towns migrate-queues", "messages") as on_progress:
            def say(line: str) -> None:
                on_progress.end()  # the step's bar is gone before stdout is written
                print(line, flush=True)

            migrate(url, api_url(), args.to, say, on_progress)
    except MigrationError as error:
        raise Failure(str(error)) from None
