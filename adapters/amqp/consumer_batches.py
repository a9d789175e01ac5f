"""The consumer's batches (``adapters.amqp.consumer``): when one is due, applying it in a worker
while the deliveries behind it are prepared, the sweeps of parked messages, and the dead letters
they give, confirmed by the broker and recorded before anything is acknowledged."""

from __future__ import annotations

import logging
import threading
import time

import pika
from pika.exceptions import AMQPError, NackError, UnroutableError

from adapters.amqp import topology as t
from adapters.amqp.consumer_serving import _wake
from adapters.amqp.letters import DeadLetterOut
from adapters.amqp.sends import send_failure_kind, send_failure_reason
from adapters.ops import metrics

log = logging.getLogger("towns.consume")


class ConsumerBatches:
    """Mixed into ``Consumer``, whose state it uses: ``inbound``, ``batch_size``,
    ``batch_seconds``, ``sweep_seconds`` and the pending deliveries (``_pending``, ``_ready``)."""

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
        self._reply(connection)
        channel.basic_ack(batch[-1].delivery_tag, multiple=True)

    def _sweep(self, connection: pika.BlockingConnection, channel) -> None:
        self._last_sweep = time.monotonic()
        if self.inbound.parked:
            self._publish(connection, channel, self._in_background(connection, self.inbound.expire))
            self._reply(connection)

    def _reply(self, connection: pika.BlockingConnection) -> None:
        """The replies owed to the senders' ``reply_to`` (``adapters.amqp.reply_sender``): after
        the commit and the dead letters, before the ack, confirmed within a bounded wait, on the
        replies' own connection while this one is served."""
        take = getattr(self.inbound, "take_replies", None)  # an inbound without replies: none
        replies = take() if take is not None else []
        if replies:
            self.reply_sender.send(connection, replies)

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
