"""The dramatiq broker: RabbitMQ with ``TOWNS_AMQP_URL``, otherwise an in-process stub broker
served by a worker thread in the same process, so the embedded default runs the same actors.

Import order. dramatiq binds an actor to a broker when its ``@dramatiq.actor`` decorator runs,
and builds a RabbitMQ broker of its own if none is set by then. So nothing imports
``workers.actors`` but ``setup_broker``, which sets the broker first and imports the actors
after; ``workers.actors`` refuses to be imported before a broker is set. A later
``setup_broker`` (tests, a second runtime) moves the actors over to the new broker: there is
one current broker per process, as dramatiq has one global broker.

Nothing here connects at import time; RabbitMQ is first reached when a message is sent or a
worker starts.
"""

from __future__ import annotations

import logging
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import dramatiq
from dramatiq.brokers.rabbitmq import RabbitmqBroker
from dramatiq.brokers.stub import StubBroker
from dramatiq.middleware import Retries, default_middleware

from workers.failures import RecordFailures
from workers.metrics import WorkerMetrics
# The queue names, for the broker's callers:
from workers.queues import DEADLINES_QUEUE, PROJECTIONS_QUEUE, QUEUES  # noqa: F401

log = logging.getLogger("towns.worker")

CONNECTION = {
    "heartbeat": "30",  # seconds; the broker drops a connection after two missed beats
    "connection_attempts": "2",  # dramatiq itself tries a send six times
    "retry_delay": "1",
    "blocked_connection_timeout": "30",  # a broker in a resource alarm fails a send, not hangs it
    "socket_timeout": "10",
}
"""pika connection settings for the actors' broker; those already in the URL win."""

EMBEDDED_THREADS = 1


def setup_broker(url: str | None) -> dramatiq.Broker:
    """Builds the broker (RabbitMQ at ``url``, or the in-process stub), makes it dramatiq's
    global broker and binds the actors to it."""
    broker = _rabbitmq(url) if url else StubBroker(_middleware(), fail_fast_default=False)
    dramatiq.set_broker(broker)
    from workers import actors  # only now: the decorators bind to the broker just set

    actors.bind(broker)
    return broker


def _middleware() -> list:
    # dramatiq runs the after_* hooks in reverse order: placed just before Retries, our
    # failure record runs just after it, once Retries has decided whether a failure is final.
    middleware = [make() for make in default_middleware]
    at = next(i for i, m in enumerate(middleware) if isinstance(m, Retries))
    return [*middleware[:at], RecordFailures(), *middleware[at:], WorkerMetrics()]


def _rabbitmq(url: str) -> RabbitmqBroker:
    # The broker takes either a URL or pika keyword arguments, never both: the settings
    # travel as the URL's query instead.
    # Several URLs separated by commas are a cluster's nodes: pika tries them in order.
    urls = [with_connection_settings(one.strip()) for one in url.split(",") if one.strip()]
    return RabbitmqBroker(url=urls if len(urls) > 1 else urls[0], confirm_delivery=True,
                          middleware=_middleware())


def with_connection_settings(url: str) -> str:
    """``url`` with ``CONNECTION``'s settings added to its query where it names none."""
    parts = urlsplit(url)
    query = dict(parse_qsl(parts.query))
    for key, value in CONNECTION.items():
        query.setdefault(key, value)
    return urlunsplit(parts._replace(query=urlencode(query)))


def start_worker(broker: dramatiq.Broker, threads: int = EMBEDDED_THREADS) -> dramatiq.Worker:
    """Starts a dramatiq worker (its own consumer and worker threads) on ``broker``.

    dramatiq's own command emits ``process_boot`` in each worker process; a worker started
    here must emit it too, or the TimeLimit middleware never starts its timer and time limits
    silently do nothing.
    """
    if not getattr(broker, "_towns_booted", False):
        broker.emit_after("process_boot")
        broker._towns_booted = True
    # Idle threads look for work (and for a stop) every worker_timeout ms: in process, a
    # short wait costs nothing and makes stopping quick.
    timeout = 100 if is_embedded(broker) else 1000
    worker = dramatiq.Worker(broker, worker_threads=threads, worker_timeout=timeout)
    worker.start()
    return worker


def is_embedded(broker: dramatiq.Broker) -> bool:
    return isinstance(broker, StubBroker)
