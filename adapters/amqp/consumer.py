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

No message can stop the consumer twice the same way: when the broker refuses a dead letter, or
closes the channel or the connection as it is sent, that is recorded on the letter before
anything else; its next send goes bare (without the publisher's headers), and after that it is
given up: acknowledged, recorded only, and counted (``Inbound.resend``). The broker itself
dead-letters what expires in the queue (``dead_lettering``, set as the consumer starts).
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from collections.abc import Callable
from typing import Any

import pika
from eventsourcing.persistence import PersistenceError
from pika.exceptions import AMQPError, NackError, UnroutableError

from adapters.amqp import dead_lettering, topology as t
from adapters.amqp.delivery import Delivery
from adapters.amqp.connection_life import Backoff, ConsumerCancelled
from adapters.amqp.inbound import DeadLetterOut, Inbound
from adapters.amqp.store_watch import StoreWatch
from adapters.amqp.sends import send_failure_kind, send_failure_reason
from adapters.ops import metrics

log = logging.getLogger("towns.consume")


BATCH_SIZE = 500
"""Deliveries per group commit by default. Under a backlog each commit's fixed cost (the table
lock, the round trips, the fsync) is shared by this many messages; a trickle never waits for it:
``batch_ms`` closes a batch first."""


class Consumer:
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
        self.batch_size = batch_size
        self.batch_seconds = batch_ms / 1000
        self.sweep_seconds = sweep_seconds
        self.backoff = Backoff()
        self.store_watch = StoreWatch(store_probe)
        self._stopping = False
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
                log.warning("consumer interrupted (%s: %s); reconnecting in %.1fs",
                            type(error).__name__, error, delay)
                self._sleep(delay)
        log.info("consumer stopped")
        return 0

    def stop(self, *_: Any) -> None:
        self._stopping = True

    def _sleep(self, seconds: float) -> None:
        end = time.monotonic() + seconds
        while not self._stopping and time.monotonic() < end:
            time.sleep(min(0.1, end - time.monotonic()))

    # -- one connection ----------------------------------------------------------------------

    def _session(self) -> None:
        parameters = pika.URLParameters(self.url)
        if "heartbeat" not in self.url:
            parameters.heartbeat = 30
        connection = pika.BlockingConnection(parameters)
        try:
            channel = self._open_channel(connection)
            self.backoff.reset()
            log.info("consuming %s", t.QUEUE)
            # Dead letters of parked messages that the last connection failed to deliver.
            self._publish(connection, channel, self._in_background(connection, self.inbound.owed))
            while not self._stopping and not self._cancelled:
                connection.process_data_events(time_limit=self._wait())
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
            if connection.is_open:
                try:
                    connection.close()
                except AMQPError:
                    pass

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

    def _prepare_some(self, count: int) -> None:
        """Parses and checks up to ``count`` pending deliveries, oldest first."""
        end = min(len(self._pending), self._ready + count)
        for i in range(self._ready, end):
            self._pending[i] = self.inbound.prepare(self._pending[i])
        self._ready = end

    def _wait(self) -> float:
        """How long the connection may be waited on before the next batch is due."""
        if not self._pending:
            return 0.2
        if len(self._pending) >= self.batch_size:
            return 0.0
        due = self._pending[0].received_at + self.batch_seconds - time.monotonic()
        return max(0.0, min(due, 0.2))

    def _sweep_due(self) -> bool:
        """Parked messages are retried and expired every ``sweep_seconds``, once the deliveries
        received before that came due have been applied: one of them may be the predecessor a
        parked message waits for (after a restart, a backlog that built up while the consumer
        was down). Deliveries that arrive later do not hold it back, so steady traffic does not."""
        due = self._last_sweep + self.sweep_seconds
        if time.monotonic() < due:
            return False
        return not self._pending or self._pending[0].received_at > due

    def _batch_due(self) -> bool:
        if not self._pending:
            return False
        full = len(self._pending) >= self.batch_size
        return full or time.monotonic() - self._pending[0].received_at >= self.batch_seconds

    # -- batches -----------------------------------------------------------------------------

    def _run_batch(self, connection: pika.BlockingConnection, channel) -> None:
        batch, self._pending = self._pending[: self.batch_size], self._pending[self.batch_size :]
        self._ready = max(0, self._ready - len(batch))
        saving = threading.Event()

        def on_saving() -> None:  # in the worker: its decisions are made, the commit begins
            saving.set()
            _wake(connection)

        started = time.perf_counter()
        letters = self._in_background(connection, self.inbound.apply, batch, on_saving,
                                      meanwhile=saving)
        metrics.batch_committed(len(batch), time.perf_counter() - started)
        self._publish(connection, channel, letters)
        channel.basic_ack(batch[-1].delivery_tag, multiple=True)

    def _sweep(self, connection: pika.BlockingConnection, channel) -> None:
        self._last_sweep = time.monotonic()
        if self.inbound.parked:
            self._publish(connection, channel, self._in_background(connection, self.inbound.expire))

    def _publish(self, connection: pika.BlockingConnection, channel, letters: list[DeadLetterOut]) -> None:
        """Each dead letter is confirmed by the broker, and that recorded in one write, before
        anything is acknowledged and before the parked messages behind them are released. A
        letter the broker refuses (nack, returned) is recorded so and sent again at once, as
        ``Inbound.resend`` says (bare, then no more), after the topology is declared again (a
        dead queue deleted meanwhile comes back). When the channel or the connection closes as a
        letter is sent, that is recorded before the error goes on, so that the redelivery of its
        message sends it otherwise."""
        while letters:
            confirmed: list[DeadLetterOut] = []
            refused: list[tuple[DeadLetterOut, BaseException]] = []
            for letter in letters:
                try:
                    channel.basic_publish(t.DEAD_EXCHANGE, letter.routing_key, letter.body,
                                          letter.properties(), mandatory=True)
                except (NackError, UnroutableError) as error:
                    refused.append((letter, error))
                except (AMQPError, OSError) as error:
                    self._record_lost(confirmed, [*refused, (letter, error)])
                    raise
                else:
                    confirmed.append(letter)
            self._in_background(connection, self._record_sends, confirmed, refused)
            if not refused:
                return
            t.declare(channel)
            letters = self._in_background(connection, self.inbound.resend, [x for x, _ in refused])

    def _record_sends(self, confirmed: list[DeadLetterOut],
                      failed: list[tuple[DeadLetterOut, BaseException]]) -> None:
        if confirmed:
            self.inbound.sent(confirmed)
        if failed:
            for letter, error in failed:
                metrics.dead_letter_not_confirmed(send_failure_kind(error))
                log.warning("the broker did not take the dead letter of message_id %r: %s",
                            letter.message_id, send_failure_reason(error))
            self.inbound.not_sent([(letter, send_failure_reason(error)) for letter, error in failed])

    def _record_lost(self, confirmed: list[DeadLetterOut],
                     failed: list[tuple[DeadLetterOut, BaseException]]) -> None:
        """What a channel or connection lost amid the dead letters leaves to know: recorded
        here (the connection is gone, nothing to serve meanwhile); a store that fails too
        only means that the redelivery sends them as before."""
        try:
            self._record_sends(confirmed, failed)
        except Exception:  # noqa: BLE001 - the broker's error is the one to go on with
            log.exception("could not record what became of the dead letters just sent")

    def _in_background(
        self,
        connection: pika.BlockingConnection,
        work: Callable,
        *args: Any,
        meanwhile: threading.Event | None = None,
    ) -> Any:
        """Runs ``work`` (on the store) in a thread while this thread services the connection
        (``_serving``). When it fails because the store does not answer, waits for the store,
        still serving the connection (the deliveries in hand stay unacknowledged, the broker
        sees us alive), and runs it again: everything run here may be run twice."""
        while True:
            try:
                return self._serving(connection, work, *args, meanwhile=meanwhile)
            except PersistenceError:
                if not self._waited_for_store(connection):
                    raise

    def _waited_for_store(self, connection: pika.BlockingConnection) -> bool:
        """After the store failed: False when it answers (the failure is another, for the
        caller to raise) or when stopping; else True once it answers again, the wait told in
        the log (``StoreWatch.check``)."""
        waited = False
        while not self._stopping:
            if self._serving(connection, self.store_watch.check, watch=False):
                return waited
            waited = True
            end = time.monotonic() + self.store_watch.check_every
            while not self._stopping and time.monotonic() < end:
                connection.process_data_events(time_limit=min(0.2, max(0.0, end - time.monotonic())))
        return False

    def _serving(
        self,
        connection: pika.BlockingConnection,
        work: Callable,
        *args: Any,
        meanwhile: threading.Event | None = None,
        watch: bool = True,
    ) -> Any:
        """Runs ``work`` in a thread while this thread services the connection (heartbeats,
        deliveries), so that a long commit never lets the broker think we are gone. Once
        ``meanwhile`` is set (the worker waits for its commit), this thread also prepares the
        pending deliveries, a few at a time between looks at the connection. ``watch``: a long
        wait asks whether the store answers (``StoreWatch.waiting``)."""
        done = threading.Event()
        box: dict[str, Any] = {}

        def target() -> None:
            try:
                box["result"] = work(*args)
            except BaseException as error:  # noqa: BLE001 - handed back to this thread
                box["error"] = error
            finally:
                done.set()
                _wake(connection)

        worker = threading.Thread(target=target, name="towns-batch", daemon=True)
        worker.start()
        started = time.monotonic()
        try:
            while not done.is_set():
                waiting = self._ready < len(self._pending)
                if waiting and meanwhile is not None and meanwhile.is_set():
                    self._prepare_some(10)
                    connection.process_data_events(time_limit=0)
                else:
                    connection.process_data_events(time_limit=0.05)
                if watch:
                    self.store_watch.waiting(started)
        finally:
            worker.join()  # never overlap two batches, even when the connection failed
        if watch:
            self.store_watch.over("error" not in box)
        if "error" in box:
            raise box["error"]
        return box["result"]


def _wake(connection: pika.BlockingConnection) -> None:
    """Wakes the connection's event loop from another thread."""
    try:
        connection.add_callback_threadsafe(lambda: None)
    except AMQPError:
        pass  # the connection is gone; its loop notices
