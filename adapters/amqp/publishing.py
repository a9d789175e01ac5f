"""A publishing run over the nodes of a cluster: ``publish``.

One ``Publisher`` per connection. When a connection fails or goes away (its node stopped, killed
or cut off), or the broker refused (nacked) messages, the messages left unconfirmed, those
refused and those not yet sent are sent again on a connection to the next node of
``TOWNS_AMQP_URL``, in their order.
A message sent again may reach the queue twice (its first copy may have been stored before the
node went away): both carry the same ``message_id``, and the consumer's inbox applies it once.
A message the broker returned (unroutable) is not sent again. The run gives up when no node
has confirmed anything for ``PATIENCE`` seconds, or when the broker refuses the channel
(permissions, a user_id it does not accept): another node would refuse it too.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from urllib.parse import parse_qs, urlsplit

import pika

from adapters.amqp.connection_life import Backoff
from adapters.amqp.endpoints import Endpoints, where
from adapters.amqp.outgoing import Outgoing, TokenBucket
from adapters.amqp.publisher import PublishReport, Publisher

log = logging.getLogger("towns.publish")

PATIENCE = 120.0
"""Seconds without a confirm from any node before the run gives up."""


def publish(
    url: str, messages: Sequence[Outgoing], rate: float = 0, max_in_flight: int = 1000,
    on_start: Callable[[Publisher], None] | None = None, patience: float = PATIENCE,
) -> PublishReport:
    """Publishes and waits until every message is settled, or the nodes are gone for good.
    ``on_start`` is given each connection's publisher (to stop it from a signal handler)."""
    endpoints = Endpoints(url, configure=_blocked_timeout(url))
    bucket = TokenBucket(rate) if rate and rate > 0 else None
    total = PublishReport()
    pending = list(range(len(messages)))
    sent: set[int] = set()
    backoff = Backoff(base=0.2, cap=5.0)
    progress_at = time.monotonic()
    while True:
        parameters = endpoints.next_parameters()
        publisher = Publisher(parameters, messages, max_in_flight=max_in_flight,
                              indices=pending, bucket=bucket)
        if on_start is not None:
            on_start(publisher)
        report = publisher.run()
        again = [position for position in pending[: report.published] if position in sent]
        total.resent += len(again)
        sent.update(pending[: report.published])
        total.acked += report.acked
        total.returned += report.returned
        if report.acked:
            progress_at = time.monotonic()
            backoff.reset()
        pending = publisher.left()
        if (not pending or not (publisher.lost or publisher.nacked) or publisher.stopping
                or time.monotonic() - progress_at > patience):
            break
        delay = backoff.next_delay()
        why = report.error if publisher.lost else f"{len(publisher.nacked)} refused (nacked)"
        log.warning("RabbitMQ at %s: %s; %d messages to send on the next node in %.1fs",
                    where(parameters), why, len(pending), delay)
        time.sleep(delay)
    total.published = len(sent)
    total.nacked = len(publisher.nacked)
    total.unconfirmed = len(publisher.unsettled)
    total.unsent = len(messages) - len(sent)
    total.error = report.error if pending else None
    if publisher.stopping and total.unsent and total.error is None:
        total.error = "interrupted"
    return total


def _blocked_timeout(url: str) -> Callable[[pika.URLParameters], None]:
    def configure(parameters: pika.URLParameters) -> None:
        if "blocked_connection_timeout" not in parse_qs(urlsplit(url).query):
            parameters.blocked_connection_timeout = 60  # a broker alarm must not hang us forever
    return configure
