"""``towns publish``: sends a batch file's messages to ``towns.inbound`` as an upstream system
would (CONTRACT.md §2, "Over RabbitMQ").

Every message is persistent, carries the envelope's ``message_id`` and the sender's ``user_id``,
and is published ``mandatory``. Publisher confirms are handled asynchronously on pika's
``SelectConnection``: up to ``max_in_flight`` messages are out unconfirmed at a time, and each
``Basic.Ack``/``Basic.Nack`` (possibly ``multiple``) settles every delivery tag it covers. A
message the broker cannot route comes back as ``Basic.Return`` (and is then acknowledged); it
is counted as returned, not as confirmed.

The topology belongs to the service: when ``towns.inbound`` exists it is left as it is (an
upstream user may hold only the write permission); on a fresh broker it is declared first.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from urllib.parse import parse_qs, urlsplit

import pika
from pika import spec
from pika.exceptions import ChannelClosedByBroker

from adapters.amqp import topology as t
from adapters.amqp.outgoing import Outgoing, PublishReport, TokenBucket
from adapters.amqp.outgoing import connecting_user, message_id, outgoing, routing_key  # noqa: F401

log = logging.getLogger("towns.publish")

NOT_FOUND = 404
STALLED = 30.0
"""Seconds without an answer, messages out, after which a connection counts as lost."""
WATCH_EVERY = 5.0


# -- the connection --------------------------------------------------------------------------


class Publisher:
    """Publishes ``messages`` on one ``SelectConnection``; ``run`` returns the report."""

    CHUNK = 200  # publishes per turn of the I/O loop, so that confirms and heartbeats get a turn

    def __init__(
        self,
        url: str | pika.URLParameters,
        messages: Sequence[Outgoing],
        rate: float = 0,
        max_in_flight: int = 1000,
        indices: Sequence[int] | None = None,
        bucket: TokenBucket | None = None,
    ) -> None:
        """``indices``: the positions of ``messages`` to send, in order (all by default);
        ``bucket``: the pacing shared with earlier connections of the same run."""
        self.url = url
        self.messages = messages
        self.indices = list(range(len(messages))) if indices is None else list(indices)
        self.bucket = bucket or (TokenBucket(rate) if rate and rate > 0 else None)
        self.max_in_flight = max(1, max_in_flight)
        self.report = PublishReport()
        self._connection: pika.SelectConnection | None = None
        self._channel = None
        self._state = "connecting"  # probing, declaring, publishing, closing
        self._next = 0
        self._tag = 0
        self._outstanding: dict[int, int | None] = {}  # delivery tag: position, publishing order
        self._timer = None
        self._stopping = False
        self._progress_at = 0.0  # the last answer from the broker (monotonic)
        self.lost = False  # the connection failed or went away (another node may do)
        self.nacked: list[int] = []  # positions the broker refused
        self.unsettled: list[int] = []  # positions out unconfirmed when the connection closed

    stopping = property(lambda self: self._stopping)

    def left(self) -> list[int]:
        """The positions still to send after this connection: refused, unsettled, never sent."""
        return sorted(self.nacked + self.unsettled) + self.indices[self._next:]

    def run(self) -> PublishReport:
        parameters = self.url
        if isinstance(parameters, str):  # a broker alarm must not hang us forever
            parameters = pika.URLParameters(self.url)
            if "blocked_connection_timeout" not in parse_qs(urlsplit(self.url).query):
                parameters.blocked_connection_timeout = 60
        self._connection = pika.SelectConnection(
            parameters,
            on_open_callback=self._on_connection_open,
            on_open_error_callback=self._on_connection_open_error,
            on_close_callback=self._on_connection_closed,
        )
        self._connection.ioloop.start()
        self.report.unsent = len(self.indices) - self.report.published
        if self._stopping and self.report.unsent and self.report.error is None:
            self.report.error = "interrupted"
        return self.report

    def stop(self) -> None:
        """Stops publishing and closes once the messages out are settled; safe from a signal
        handler or another thread."""
        self._stopping = True
        if self._connection is not None:
            try:
                self._connection.ioloop.add_callback_threadsafe(self._finish_if_done)
            except Exception:  # noqa: BLE001 - the loop is gone already
                pass

    # -- opening -----------------------------------------------------------------------------

    def _on_connection_open(self, connection) -> None:
        self._state = "probing"
        self._progress_at = time.monotonic()
        connection.ioloop.call_later(WATCH_EVERY, self._watch)
        connection.channel(on_open_callback=self._on_probe_channel)

    def _watch(self) -> None:
        """A node that stops answering (its queue's leader gone, say) while messages are out
        unconfirmed, or while the channel is prepared, counts as lost: the rest go elsewhere."""
        if self._state == "closing":
            return
        waiting = self._outstanding or self._state in ("probing", "declaring")
        if waiting and time.monotonic() - self._progress_at > STALLED:
            self.lost = True
            self.report.error = f"no answer from the broker in {STALLED:.0f}s"
            self._close()
            return
        self._connection.ioloop.call_later(WATCH_EVERY, self._watch)

    def _on_connection_open_error(self, connection, error) -> None:
        self.report.error = f"cannot connect to RabbitMQ: {_describe(error)}"
        self.lost = True
        connection.ioloop.stop()

    def _on_probe_channel(self, channel) -> None:
        """Does ``towns.inbound`` exist? If so it is used as it is; if not, declared."""
        channel.add_on_close_callback(self._on_channel_closed)
        channel.exchange_declare(t.EXCHANGE, passive=True,
                                 callback=lambda _frame: self._prepare(channel))

    def _on_declare_channel(self, channel) -> None:
        channel.add_on_close_callback(self._on_channel_closed)
        t.declare(channel)  # no-wait declarations; a refusal closes the channel
        self._prepare(channel)

    def _prepare(self, channel) -> None:
        self._channel = channel
        channel.add_on_return_callback(self._on_return)
        # The broker answers in order: Select-Ok means every declaration before it succeeded.
        channel.confirm_delivery(self._on_confirm, callback=self._on_confirm_select_ok)

    def _on_confirm_select_ok(self, _frame) -> None:
        self._state = "publishing"
        self._progress_at = time.monotonic()
        self._pump()

    def _on_channel_closed(self, channel, reason) -> None:
        if (self._state == "probing" and isinstance(reason, ChannelClosedByBroker)
                and reason.reply_code == NOT_FOUND):
            log.info("%s does not exist: declaring the topology", t.EXCHANGE)
            self._state = "declaring"
            self._connection.channel(on_open_callback=self._on_declare_channel)
            return
        if self._state != "closing":
            if isinstance(reason, ChannelClosedByBroker):
                self.report.error = f"the broker closed the channel: {_describe(reason)}"
            else:  # the connection went: another node may take the rest
                self.lost = True
                self.report.error = f"the connection closed: {_describe(reason)}"
            self._close()

    # -- publishing --------------------------------------------------------------------------

    def _pump(self) -> None:
        self._timer = None
        if self._state != "publishing":
            return
        sent = 0
        while (not self._stopping and self._next < len(self.indices)
               and len(self._outstanding) < self.max_in_flight):
            if sent >= self.CHUNK:
                self._timer = self._connection.ioloop.call_later(0, self._pump)
                return
            if self.bucket is not None:
                wait = self.bucket.delay()
                if wait > 0:
                    self._timer = self._connection.ioloop.call_later(wait, self._pump)
                    return
                self.bucket.take()
            self._publish(self.messages[self.indices[self._next]], self.indices[self._next])
            self._next += 1
            sent += 1
        self._finish_if_done()

    def _publish(self, message: Outgoing, position: int | None = None) -> None:
        self._channel.basic_publish(
            t.EXCHANGE,
            message.routing_key,
            message.body,
            pika.BasicProperties(
                message_id=message.message_id,
                user_id=message.user_id,
                content_type="application/json",
                delivery_mode=2,
            ),
            mandatory=True,
        )
        self._tag += 1
        self._outstanding[self._tag] = position
        self.report.published += 1

    def _on_confirm(self, frame) -> None:
        self._progress_at = time.monotonic()
        method = frame.method
        acked = isinstance(method, spec.Basic.Ack)
        if method.multiple:
            settled = []
            for tag in self._outstanding:  # in increasing order
                if method.delivery_tag and tag > method.delivery_tag:
                    break
                settled.append(tag)
        else:
            settled = [method.delivery_tag] if method.delivery_tag in self._outstanding else []
        positions = [self._outstanding.pop(tag) for tag in settled]
        if acked:
            self.report.acked += len(settled)
        else:
            self.report.nacked += len(settled)
            self.nacked += [position for position in positions if position is not None]
        if self._timer is None:
            self._pump()

    def _on_return(self, _channel, method, _properties, _body) -> None:
        self.report.returned += 1
        log.debug("returned: %s %s", method.reply_code, method.reply_text)

    # -- closing -----------------------------------------------------------------------------

    def _finish_if_done(self) -> None:
        if self._state in ("closing", "connecting"):
            return
        done = self._stopping or self._next >= len(self.indices)
        if done and not self._outstanding:
            self._close()

    def _close(self) -> None:
        self._state = "closing"
        if self._timer is not None:
            self._connection.ioloop.remove_timeout(self._timer)
            self._timer = None
        if self._connection.is_open:
            self._connection.close()
        elif self._connection.is_closed:
            self._connection.ioloop.stop()

    def _on_connection_closed(self, connection, reason) -> None:
        self.report.unconfirmed += len(self._outstanding)
        self.unsettled = [position for position in self._outstanding.values() if position is not None]
        self._outstanding.clear()
        if self._state != "closing":
            self.lost = True
            if self.report.error is None:
                self.report.error = f"the connection closed: {_describe(reason)}"
        self._state = "closing"
        connection.ioloop.stop()


def _describe(error: BaseException) -> str:
    text = str(error)
    if not text or text == type(error).__name__:
        text = repr(error)  # pika's connection errors keep their cause in args
    if "user_id property set to" in text:
        text += " (publishing as another user needs the connecting user to have the impersonator tag)"
    return text

