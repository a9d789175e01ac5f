"""The inbound topology (CONTRACT.md §2), declared idempotently by every process that uses it."""

from __future__ import annotations

import os
from urllib.parse import urlsplit

EXCHANGE = "towns.inbound"
QUEUE = "towns.inbound"
DEAD_EXCHANGE = "towns.inbound.dlx"
DEAD_QUEUE = "towns.inbound.dead"

DEFAULT_URL = "amqp://guest:guest@127.0.0.1:5672/%2F"

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


def amqp_url() -> str | None:
    """``TOWNS_AMQP_URL``, checked; None means the embedded default (no RabbitMQ)."""
    url = os.environ.get("TOWNS_AMQP_URL") or None
    return None if url is None else checked_amqp_url(url, "TOWNS_AMQP_URL")


def checked_amqp_url(url: str, source: str = "the RabbitMQ URL") -> str:
    """``url`` when pika can connect by it; ``AmqpUrlError`` otherwise."""
    import pika

    form = "amqp[s]://user:password@host:port/vhost"
    try:
        if urlsplit(url).scheme not in ("amqp", "amqps"):
            raise AmqpUrlError(f"{source} is not an AMQP URL ({form})")
        pika.URLParameters(url)
    except AmqpUrlError:
        raise
    except (ValueError, TypeError, KeyError, IndexError) as error:
        raise AmqpUrlError(f"{source} cannot be used ({form}): {error or type(error).__name__}") from None
    return url


def declare(channel) -> None:
    """Declares exchanges, queues and bindings; safe to repeat."""
    channel.exchange_declare(EXCHANGE, exchange_type="topic", durable=True)
    channel.exchange_declare(DEAD_EXCHANGE, exchange_type="topic", durable=True)
    # One active consumer at a time keeps delivery order; the others wait as hot standbys.
    channel.queue_declare(QUEUE, durable=True, arguments={"x-single-active-consumer": True})
    channel.queue_bind(QUEUE, EXCHANGE, routing_key="#")
    # Dead letters never expire: no TTL, no length limit.
    channel.queue_declare(DEAD_QUEUE, durable=True)
    channel.queue_bind(DEAD_QUEUE, DEAD_EXCHANGE, routing_key="#")
