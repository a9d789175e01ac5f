"""The inbound topology (CONTRACT.md §2), declared idempotently by every process that uses it.

``towns.inbound`` and ``towns.inbound.dead`` are quorum queues by default (``TOWNS_QUEUE_TYPE``):
replicated over a cluster's nodes by Raft, so that losing a node loses neither the backlog nor a
dead letter. ``towns.inbound`` keeps one active consumer at a time, gives a message up to
``DELIVERY_LIMIT`` deliveries (a message that kills its consumer each time cannot loop for
ever) and dead-letters at least once (the letter stays in the queue until the dead queue has
confirmed it). ``TOWNS_QUEUE_TYPE=classic`` keeps classic queues, for a single-node development
broker. A broker that holds the queues with the other type refuses the declaration:
``QueueTypeMismatch`` says so and names ``towns migrate-queues``.
"""

from __future__ import annotations

import os
from urllib.parse import urlsplit

from pika.exceptions import AMQPError, ChannelClosedByBroker

from adapters.amqp import endpoints

EXCHANGE = "towns.inbound"
QUEUE = "towns.inbound"
DEAD_EXCHANGE = "towns.inbound.dlx"
DEAD_QUEUE = "towns.inbound.dead"

DEFAULT_URL = "amqp://guest:guest@127.0.0.1:5672/%2F"

QUORUM, CLASSIC = "quorum", "classic"
QUEUE_TYPES = (QUORUM, CLASSIC)
DELIVERY_LIMIT = 20
"""Deliveries of one message before the broker dead-letters it (reason ``delivery_limit`` in
``x-death``): each connection or consumer lost with the message unacknowledged counts one."""
PRECONDITION_FAILED = 406

# Header names of a dead letter (CONTRACT.md §2).
ERROR = "x-towns-error"
DETAIL = "x-towns-detail"
USER_ID = "x-towns-user-id"
ROUTING_KEY = "x-towns-routing-key"
FIRST_SEEN = "x-towns-first-seen"
REQUEUED_AT = "x-towns-requeued-at"
"""Set by a re-drive: a message parked again waits its reorder window from here, not from the
first sight it keeps in ``x-towns-first-seen``."""
HEADERS_DROPPED = "x-towns-headers-dropped"
"""True on a letter sent without the publisher's headers (too large to send again)."""
DETAIL_LIMIT = 1024
"""The most characters of ``x-towns-detail``: what the service adds to a letter is bounded."""


class AmqpUrlError(ValueError):
    """A RabbitMQ URL cannot be used; the message says why, without the URL's credentials."""


class QueueTypeMismatch(AMQPError):
    """The broker holds a queue of the service with another type than ``TOWNS_QUEUE_TYPE``."""


def amqp_url() -> str | None:
    """``TOWNS_AMQP_URL``, checked: one URL or several separated by commas (``endpoints``);
    None means the embedded default (no RabbitMQ)."""
    url = os.environ.get("TOWNS_AMQP_URL") or None
    return None if url is None else checked_amqp_url(url, "TOWNS_AMQP_URL")


def queue_type() -> str:
    """``TOWNS_QUEUE_TYPE``: ``quorum`` (the default) or ``classic``."""
    kind = (os.environ.get("TOWNS_QUEUE_TYPE") or QUORUM).strip().lower()
    if kind not in QUEUE_TYPES:
        raise AmqpUrlError(f"TOWNS_QUEUE_TYPE must be quorum or classic, not {kind!r}")
    return kind


def checked_amqp_url(url: str, source: str = "the RabbitMQ URL") -> str:
    """``url`` (one URL or several separated by commas) when pika can connect by each, and they
    agree on the user and the vhost; ``AmqpUrlError`` otherwise."""
    urls = endpoints.split(url)
    if not urls:
        raise AmqpUrlError(f"{source} is empty")
    seen = set()
    for one in urls:
        parameters = _checked_one(one, source if len(urls) == 1 else f"{source} (a URL of its list)")
        seen.add((parameters.credentials.username, parameters.virtual_host))
    if len(seen) > 1:
        raise AmqpUrlError(f"the URLs of {source} name different users or vhosts: one cluster, "
                           "one user, one vhost")
    return url


def _checked_one(url: str, source: str):
    import pika

    form = "amqp[s]://user:password@host:port/vhost"
    try:
        if urlsplit(url).scheme not in ("amqp", "amqps"):
            raise AmqpUrlError(f"{source} is not an AMQP URL ({form})")
        return pika.URLParameters(url)
    except AmqpUrlError:
        raise
    except (ValueError, TypeError, KeyError, IndexError) as error:
        raise AmqpUrlError(f"{source} cannot be used ({form}): {error or type(error).__name__}") from None


def inbound_arguments(kind: str) -> dict:
    """``towns.inbound``'s queue arguments for a queue type."""
    # One active consumer at a time keeps delivery order; the others wait as hot standbys.
    arguments: dict = {"x-single-active-consumer": True}
    if kind == QUORUM:
        arguments.update({
            "x-queue-type": QUORUM,
            "x-delivery-limit": DELIVERY_LIMIT,
            "x-dead-letter-exchange": DEAD_EXCHANGE,
            # at-least-once dead-lettering needs the publisher refused, never the head dropped
            "x-dead-letter-strategy": "at-least-once",
            "x-overflow": "reject-publish",
        })
    return arguments


def dead_arguments(kind: str) -> dict:
    """``towns.inbound.dead``'s: dead letters never expire (no TTL, no length limit)."""
    return {"x-queue-type": QUORUM} if kind == QUORUM else {}


def declare(channel, kind: str | None = None) -> None:
    """Declares exchanges, queues and bindings; safe to repeat. On a blocking channel a queue
    of the other type raises ``QueueTypeMismatch`` (the channel is closed then)."""
    kind = kind or queue_type()
    channel.exchange_declare(EXCHANGE, exchange_type="topic", durable=True)
    channel.exchange_declare(DEAD_EXCHANGE, exchange_type="topic", durable=True)
    declare_queue(channel, QUEUE, inbound_arguments(kind), kind)
    channel.queue_bind(QUEUE, EXCHANGE, routing_key="#")
    declare_queue(channel, DEAD_QUEUE, dead_arguments(kind), kind)
    channel.queue_bind(DEAD_QUEUE, DEAD_EXCHANGE, routing_key="#")


def declare_queue(channel, name: str, arguments: dict, kind: str) -> None:
    try:
        channel.queue_declare(name, durable=True, arguments=arguments)
    except ChannelClosedByBroker as error:
        if error.reply_code == PRECONDITION_FAILED and "inequivalent arg" in str(error.reply_text):
            raise QueueTypeMismatch(mismatch_message(name, kind, str(error.reply_text))) from None
        raise


def mismatch_message(name: str, kind: str, reply: str = "") -> str:
    other = CLASSIC if kind == QUORUM else QUORUM
    said = f" (the broker: {reply[:300]})" if reply else ""
    return (f"{name} exists on this broker with other arguments than the service's {kind} "
            f"queue, most likely as a {other} queue{said}; TOWNS_QUEUE_TYPE is {kind}: "
            f"run `towns migrate-queues --to {kind}` to move its messages into a {kind} queue, "
            f"or set TOWNS_QUEUE_TYPE={other}")
