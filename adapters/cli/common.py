"""What the commands share: the failure they explain in one line, argument types, logging."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from datetime import datetime
from uuid import UUID

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


def whole(low: int, high: int | None = None, what: str = "a whole number"):
    """An argument type: an integer from ``low`` to ``high`` (no upper bound when None)."""

    def convert(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
        if value < low or (high is not None and value > high):
            bounds = f"from {low} to {high}" if high is not None else f">= {low}"
            raise argparse.ArgumentTypeError(f"{what} is {bounds}, not {text!r}")
        return value

    return convert


def amqp_url_arg(text: str) -> str:
    """A RabbitMQ URL pika can connect by."""
    from adapters.amqp.topology import AmqpUrlError, checked_amqp_url

    try:
        return checked_amqp_url(text, "the URL")
    except AmqpUrlError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def reorder_window() -> float:
    """``TOWNS_REORDER_WINDOW``: seconds an out-of-order message waits (default 600)."""
    text = os.environ.get("TOWNS_REORDER_WINDOW") or "600"
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0 <= value < float("inf"):
        raise Failure(f"TOWNS_REORDER_WINDOW is a number of seconds >= 0, not {text!r}")
    return value


def seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from None
    if not 0 < value < float("inf"):
        raise argparse.ArgumentTypeError(f"a tick is a number of seconds > 0, not {text!r}")
    return value


def rate(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if value < 0 or value != value or value == float("inf"):
        raise argparse.ArgumentTypeError(f"the rate is a number of messages per second >= 0, not {text!r}")
    return value


def uuid_arg(text: str) -> UUID:
    try:
        return UUID(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a dead letter id (a UUID): {text!r}") from None


def env_int(name: str, default: int) -> int:
    try:
        return int(os.environ.get(name, default))
    except ValueError:
        return default


def reason_option(parser: argparse.ArgumentParser) -> None:
    """``--reason``: why an operator acts, recorded with who and when as an event of the log."""
    parser.add_argument("--reason", metavar="TEXT",
                        help="why: recorded with who and when as an event of the log")


def log_to_stderr() -> None:
    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format="%(asctime)s %(name)s %(levelname)s %(message)s")
    logging.getLogger("pika").setLevel(logging.WARNING)


def serve_metrics() -> None:
    """Serves this process's Prometheus metrics on ``TOWNS_METRICS_PORT`` when it is set."""
    from adapters.ops.metrics import MetricsServerError, serve_from_env

    try:
        serve_from_env()
    except MetricsServerError as error:
        raise Failure(str(error)) from None
