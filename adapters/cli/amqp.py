"""RabbitMQ's commands: the consumer, the publisher, dead letters (``adapters.cli.dead_letters``)."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
from pathlib import Path
from urllib.parse import unquote, urlsplit

from adapters import collector
from adapters.bootstrap import build_runtime
from adapters.cli.dead_letters import register as register_dead_letters
from adapters.cli.common import (Failure, amqp_url_arg, env_int, log_to_stderr, rate,
                                 reorder_window, serve_metrics, whole)
from adapters.config import load_config

def register(commands) -> None:
    consume = commands.add_parser("consume", help="the RabbitMQ consumer of towns.inbound")
    consume.add_argument("--batch-size", type=whole(1, what="a batch size"),
                         default=env_int("TOWNS_BATCH_SIZE", 0) or None,
                         help="most deliveries per group commit (TOWNS_BATCH_SIZE; default 500)")
    consume.add_argument("--batch-ms", type=whole(0, what="the wait"),
                         default=env_int("TOWNS_BATCH_MS", 20),
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
    publish.add_argument("--rate", type=rate, default=0,
                         help="messages per second (0 or absent: as fast as the broker confirms, "
                              "at most 1000 unconfirmed at a time)")
    publish.add_argument("--url", type=amqp_url_arg, help="RabbitMQ URL (default: TOWNS_AMQP_URL)")
    publish.set_defaults(run=run_publish)

    register_dead_letters(commands)  # list and requeue, with their filter


def run_consume(args: argparse.Namespace) -> None:
    from adapters.amqp.consumer import BATCH_SIZE, Consumer
    from adapters.amqp.inbound import Inbound
    from adapters.amqp.topology import amqp_url
    from adapters.store.inbound_records import InboundRecords
    from adapters.store.settings import database_url_of, store_probe

    url = amqp_url()
    if not url:
        raise Failure("TOWNS_AMQP_URL is not set: the consumer needs RabbitMQ")
    window = reorder_window()
    log_to_stderr()
    serve_metrics()  # on TOWNS_METRICS_PORT, when set
    config = load_config()
    runtime = build_runtime(config, amqp_url=url, process="consume")  # nudges per commit
    towns = runtime.towns
    user = urlsplit(url).username or "guest"
    inbound = Inbound(towns, config, InboundRecords(towns), window, service_user=unquote(user))
    collector.settle()
    try:
        code = Consumer(inbound, url, args.batch_size or BATCH_SIZE, args.batch_ms,
                        store_probe=store_probe(database_url_of(towns))).run()
    finally:
        runtime.close()
    sys.exit(code)


def run_publish(args: argparse.Namespace) -> None:
    from adapters.amqp.outgoing import connecting_user, outgoing
    from adapters.amqp.publishing import publish
    from adapters.amqp.topology import amqp_url
    from adapters.cli.progress import polled, progress
    from adapters.inbound.batch import read_batch

    url = args.url or amqp_url()
    if not url:
        raise Failure("no RabbitMQ: give --url or set TOWNS_AMQP_URL")
    config = load_config()
    try:
        messages, skipped = outgoing(read_batch(args.file, config), connecting_user(url))
    except OSError as error:
        raise Failure(f"cannot read {args.file}: {error.strerror or error}") from None
    logging.getLogger("pika").setLevel(logging.CRITICAL)  # failures are reported below

    publishers = []  # one per connection; their confirms count the progress

    def interruptible(publisher) -> None:
        publishers.append(publisher)
        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, lambda *_: publisher.stop())

    with progress("towns publish", "messages confirmed") as on_progress:
        with polled(lambda: sum(p.report.acked for p in list(publishers)), len(messages),
                    on_progress):
            report = publish(url, messages, args.rate, on_start=interruptible)
    line = report.line()
    if skipped:
        line += f"; skipped {skipped} control line{'s' if skipped != 1 else ''}"
    print(line, flush=True)
    if not report.ok:
        raise Failure(report.reason())
