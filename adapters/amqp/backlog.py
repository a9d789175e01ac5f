"""Whether the inbound backlog is applied, for the worker's catch-up deadline check
(``workers.catch_up``): the composition root hands ``backlog_probe`` to the worker's beat.

The backlog is applied when ``towns.inbound`` holds no message ready (a passive
``queue.declare``: its ``message_count``, exact and at once, where the management API's figures
of a quorum queue lag by seconds) and the store holds no parked message. Without RabbitMQ
(the embedded default) there is no inbound queue: only the parked messages count.
"""

from __future__ import annotations

from collections.abc import Callable

import pika
from pika.exceptions import ChannelClosedByBroker

from adapters.amqp.endpoints import Endpoints, close_quietly
from adapters.amqp.topology import QUEUE
from adapters.store.inbound_records import InboundRecords
from domain.service import Towns

TIMEOUT = 5.0


def backlog_probe(amqp_url: str | None, towns: Towns) -> Callable[[], str | None]:
    """None when the backlog is applied, else what is still waiting, in a few words."""
    records = InboundRecords(towns)

    def probe() -> str | None:
        waiting = []
        if amqp_url:
            ready = inbound_ready(amqp_url)
            if ready:
                waiting.append(f"{ready} messages ready in {QUEUE}")
        parked = len(records.open_parked())
        if parked:
            waiting.append(f"{parked} parked messages")
        return ", ".join(waiting) or None

    return probe


def inbound_ready(amqp_url: str, timeout: float = TIMEOUT) -> int:
    """Messages ready in ``towns.inbound`` (0 where the queue does not exist yet)."""
    def configure(parameters: pika.URLParameters) -> None:
        parameters.socket_timeout = timeout
        parameters.connection_attempts = 1
        parameters.blocked_connection_timeout = timeout

    connection = Endpoints(amqp_url, configure).connect()
    try:
        channel = connection.channel()
        try:
            return channel.queue_declare(QUEUE, passive=True).method.message_count
        except ChannelClosedByBroker as error:
            if error.reply_code == 404:
                return 0
            raise
    finally:
        close_quietly(connection)
