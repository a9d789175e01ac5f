"""The operators' commands: ``towns queues [--watch]``."""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time

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
            "parked messages, the open dead letters, and where the figures came from."
        ),
    )
    queues.add_argument("--watch", action="store_true", help="redraw until Ctrl-C")
    queues.add_argument("--interval", type=seconds, default=2.0, metavar="S",
                        help="seconds between redraws with --watch (default 2)")
    queues.add_argument("--json", action="store_true", help="print the view as JSON (the API's shape)")
    queues.set_defaults(run=run_queues)


def run_queues(args: argparse.Namespace) -> None:
    from adapters.amqp.topology import amqp_url
    from adapters.store.inbound_records import InboundRecords
    from adapters.ops.queues import api_url, queue_view
    from adapters.ops.queues_table import print_view
    from adapters.bootstrap import build_runner

    logging.getLogger("pika").setLevel(logging.CRITICAL)  # the view's note says what failed
    towns = build_towns(load_config())
    runner = build_runner(towns, database_url())
    records = InboundRecords(towns)
    try:
        while True:
            view = queue_view(amqp_url(), api_url(), runner, records)
            if args.watch:
                sys.stdout.write(CLEAR)
            if args.json:
                print(json.dumps(view, ensure_ascii=False))
            else:
                print_view(view, sys.stdout)
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
