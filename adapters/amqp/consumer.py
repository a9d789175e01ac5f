"""``towns consume``: the consumer of ``towns.inbound``.

One method per protocol step, as pika's robust-consumer examples have it. Deliveries are
gathered into batches (up to N messages or T milliseconds), applied in delivery order and saved
in one transaction in a worker thread while this thread keeps the connection's heartbeats, then
acknowledged with one ``multiple`` ack, after the batch's dead letters are confirmed by the
broker and that is recorded. While the worker waits for its commit, this thread parses and checks
the deliveries of the next batch (the worker does what is left as it decides). Nothing is
acknowledged before it is stored, so a crash means redelivery, which the inbox markers make
harmless, and the dead letters' records too: a letter confirmed once is not sent again. A lost
connection, a broker restart or a consumer cancel is met by reconnecting with capped, jittered
backoff and declaring the topology again. SIGTERM finishes the batch in hand, acknowledges it
and exits 0.

A message with ``reply_to`` has its outcome published to that queue after the commit and before
the ack (``reply_sender``, ``replies``), all of a batch's replies confirmed together, within a
bounded wait, on a connection of the replies' own: a reply the broker answers by closing the
connection loses that one, never the consumer's.

No message can stop the consumer twice the same way: when the broker refuses a dead letter, or
closes the channel or the connection as it is sent, that is recorded on the letter before
anything else; its next send goes bare (without the publisher's headers), and after that it is
given up: acknowledged, recorded only, and counted (``Inbound.resend``). The broker itself
dead-letters what expires in the queue (``dead_lettering``, set as the consumer starts).

This module keeps the consumer's life and its connection; the batches, the sweeps and their dead
letters are in ``consumer_batches``, the work on the store run while the connection is served in
``consumer_serving``.
"""

from __future__ import annotations

import logging
import signal
import time
from collections.abc import Callable
from typing import Any

import pika
from eventsourcing.persistence import PersistenceError
from pika.exceptions import AMQPError

from adapters.amqp import dead_lettering, shutdown, topology as t
from adapters.amqp.consumer_batches import ConsumerBatches
from adapters.amqp.consumer_serving import ConsumerServing
from adapters.amqp.delivery import Delivery
from adapters.amqp.endpoints import Endpoints, where
from adapters.amqp.connection_life import Backoff, ConsumerCancelled
from adapters.amqp.inbound import Inbound
from adapters.amqp.reply_sender import ReplySender
from adapters.amqp.store_watch import StoreWatch

log = logging.getLogger("towns.consume")


BATCH_SIZE = 500
"""Deliveries per group commit by default. Under a backlog each commit's fixed cost (the writers'
lock, the round trips, the fsync) is shared by this many messages; a trickle never waits for it:
``batch_ms`` closes a batch first."""


class Consumer(ConsumerBatches, ConsumerServing):
    def __init__(
        self,
        inbound: Inbound,
        url: str,
        batch_size: int = BATCH_SIZE,
        batch_ms: int = 20,
        sweep_seconds: float = 1.0,
        store_probe: Callable[[], None] | None = None,
    ) -> None:
        """``store_probe`` raises when the store does not answer (``store_watch``): the log
        then says what the consumer waits for."""
        self.inbound = inbound
        self.url = url
        self.endpoints = Endpoints(url, configure=_heartbeat(url))
        self.batch_size = batch_size
        self.batch_seconds = batch_ms / 1000
        self.sweep_seconds = sweep_seconds
        self.backoff = Backoff()
        self.store_watch = StoreWatch(store_probe)
        self.reply_sender = ReplySender(self.endpoints)
        self._stopping = False
        self._silenced = False
        self._cancelled = False
        self._pending: list[Delivery] = []
        self._ready = 0  # how many of the pending deliveries, from the first, are prepared
        # The first sweep waits a while after start: what waits in the queue is delivered first.
        self._last_sweep = time.monotonic()

    # -- life --------------------------------------------------------------------------------

    def run(self) -> int:
        """Consumes until SIGTERM or SIGINT; returns the exit code."""
        signal.signal(signal.SIGTERM, self.stop)
        signal.signal(signal.SIGINT, self.stop)
        dead_lettering.ensure_policy(self.url)
        while not self._stopping:
            try:
                self._session()
            except (AMQPError, ConsumerCancelled, PersistenceError, OSError) as error:
                if self._stopping:
                    break
                delay = self.backoff.next_delay()
                if isinstance(error, t.QueueTypeMismatch):  # waits for the migration
                    log.error("%s; trying again in %.1fs", error, delay)
                else:
                    log.warning("consumer interrupted (%s: %s); reconnecting in %.1fs",
                                type(error).__name__, error, delay)
                self._sleep(delay)
        if self._silenced:
            self._silenced = False
            shutdown.restore()
        log.info("consumer stopped")
        return 0

    def stop(self, *_: Any) -> None:
        """Stops after the batch in hand; pika's reports of the connection closing are not
        logged (``shutdown``)."""
        if not self._silenced:
            self._silenced = True
            shutdown.silence()
        self._stopping = True

    def _sleep(self, seconds: float) -> None:
        end = time.monotonic() + seconds
        while not self._stopping and time.monotonic() < end:
            time.sleep(min(0.1, end - time.monotonic()))

    # -- one connection ----------------------------------------------------------------------

    def _session(self) -> None:
        connection = self.endpoints.connect()
        try:
            channel = self._open_channel(connection)
            self.backoff.reset()
            log.info("consuming %s at %s", t.QUEUE, where(self.endpoints.current))
            # Dead letters of parked messages that the last connection failed to deliver.
            self._publish(connection, channel, self._in_background(connection, self.inbound.owed))
            while not self._stopping and not self._cancelled:
                self._gather(connection)
                self.reply_sender.serve()
                if self._batch_due():
                    self._run_batch(connection, channel)
                if self._sweep_due():
                    self._sweep(connection, channel)
            while self._pending and not self._cancelled:  # stopping: finish what was delivered
                self._run_batch(connection, channel)
            if self._cancelled:
                raise ConsumerCancelled("the broker cancelled the consumer")
        finally:
            self._pending, self._ready = [], 0  # unacknowledged deliveries come back
            self.reply_sender.close()
            if connection.is_open:
                try:
                    connection.close()
                except AMQPError:
                    pass

    def _gather(self, connection: pika.BlockingConnection) -> None:
        """Serves the connection until a batch may be due. While a batch is gathering (not
        full, not yet due) the connection is read once, when it comes due, instead of at every
        delivery: under a steady stream a wake per delivery cost more than the delivery."""
        wait = self._wait()
        if self._pending and wait > 0:
            time.sleep(wait)
            wait = 0
        connection.process_data_events(time_limit=wait)

    def _open_channel(self, connection: pika.BlockingConnection):
        channel = connection.channel()
        t.declare(channel)
        channel.confirm_delivery()
        channel.basic_qos(prefetch_count=self.batch_size * 2)
        self._cancelled = False
        channel.add_on_cancel_callback(self._on_cancel)
        channel.basic_consume(t.QUEUE, self._on_message)
        return channel

    def _on_cancel(self, *_: Any) -> None:
        self._cancelled = True

    def _on_message(self, _channel, method, properties, body: bytes) -> None:
        self._pending.append(
            Delivery(
                body=body,
                message_id=properties.message_id,
                user_id=properties.user_id,
                routing_key=method.routing_key,
                headers=dict(properties.headers or {}),
                content_type=properties.content_type,
                delivery_tag=method.delivery_tag,
                received_at=time.monotonic(),
                amqp=properties,
            )
        )


def _heartbeat(url: str) -> Callable[[pika.URLParameters], None]:
    """Heartbeats every 30 s unless the URLs say otherwise."""
    def configure(parameters: pika.URLParameters) -> None:
        if "heartbeat" not in url:
            parameters.heartbeat = 30
    return configure
