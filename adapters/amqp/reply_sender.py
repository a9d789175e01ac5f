"""Publishes the replies of a batch (``adapters.amqp.replies``) on a connection of their own, with
publisher confirms, after the batch's commit and before its ack: the life of that connection, the
publishes, and the wait for their confirms. How each reply ended is counted and reported by
``adapters.amqp.reply_results``; the names to send alone or refuse are kept by
``adapters.amqp.reply_suspects``.

The replies' connection is not the consumer's: a reply that makes the broker close the
connection it is published on (RabbitMQ 3.10 closes it with 541 INTERNAL_ERROR for a direct
reply-to name that decodes to no channel; another unknown name or broker condition may do the
same) takes down only the replies' connection, never the consumer's deliveries and their ack.
The connection is opened at the first reply, to the consumer's nodes with its credentials
(``Endpoints``), opened again at the next batch after it was lost, served between batches by
the consumer's loop (``serve``: heartbeats, late confirms), and closed with the consumer's
connection (``close``).

The delivery guarantee is at least once, within a bounded wait:

- A reply is published only once the store holds what decided it (the batch's commit, or the
  dead-letter record of a refusal), so no reply announces what the store could still lose.
- The batch is acknowledged only after its replies are confirmed by the broker, or after
  ``REPLY_WAIT`` seconds, whichever comes first: a lost consumer connection or a crash before
  that means redelivery, and the redelivered message is answered again (``duplicate`` for one
  applied before; the ``correlation_id`` lets the sender drop the repeat). A reply still
  unconfirmed after the wait is counted (``unconfirmed``) and the batch acknowledged all the
  same: a reply never holds the inbound queue up for longer than that.
- A reply that no queue takes (``reply_to`` names none: it comes back as ``Basic.Return``), that
  the broker refuses (nack), that closes its channel, or that is out when the replies'
  connection closes or cannot be opened, is counted (``towns_ingest_replies_total{result}``),
  logged at WARNING with its ``reply_to``, and not sent again; the consumer goes on and
  acknowledges the batch. Only the replies' channel or connection is lost then: the next batch
  opens another.
- A ``reply_to`` that makes the broker close the replies' connection is not given a new one at
  every batch (``adapters.amqp.reply_suspects``): a reply to a suspect name is published alone,
  after the batch's other replies, and a name found out is refused from then on
  (``invalid_reply_to``).
- The final outcome of a parked message is decided by a retry, not by a delivery (the message
  was acknowledged when parked): its reply is not sent again after a lost connection or a crash
  (at most once).

All of a batch's replies are published in a row and their confirms awaited together: one round
trip per batch, not one per reply. pika's ``BlockingChannel`` waits for each confirm as it
publishes; so this publishes on the channel's asynchronous implementation (``_impl``) and lets
the replies' connection loop (``process_data_events``) bring the confirms and returns, in short
slices between which the consumer's connection is served (heartbeats, deliveries).
"""

from __future__ import annotations

import logging
import struct
import time
from collections import Counter
from collections.abc import Sequence

import pika
from pika.exceptions import (
    AMQPError,
    ConnectionClosedByBroker,
    ShortStringTooLong,
    UnsupportedAMQPFieldException,
)

from adapters.amqp.endpoints import Endpoints, bounded_connect, close_quietly, connected_user, where
from adapters.amqp.replies import ReplyOut
from adapters.amqp.reply_results import (
    CHANNEL_CLOSED,
    CONNECTION_CLOSED,
    INVALID,
    UNCONFIRMED,
    UNSENDABLE,
    Outstanding,
    ReplyResults,
)
from adapters.amqp.reply_suspects import REMEMBERED, ReplySuspects

log = logging.getLogger("towns.consume")

REPLY_WAIT = 5.0
"""The most seconds a batch's ack waits for the confirms of its replies."""
SLICE = 0.02
"""Seconds spent on the replies' connection at a time while waiting for confirms, between looks
at the consumer's connection."""
DEFAULT_EXCHANGE = ""

_UNSENDABLE = (ShortStringTooLong, UnsupportedAMQPFieldException, TypeError, ValueError,
               OverflowError, struct.error)
_LOST = (AMQPError, OSError)


class _Lost(Exception):
    """The replies' connection went while a batch's replies were out."""

    def __init__(self, error: BaseException) -> None:
        super().__init__(str(error))
        self.error = error


class ReplySender:
    """The replies of one consumer, on a connection of their own to ``endpoints`` (a channel on
    it, with confirms), opened at the first reply and again after it was lost."""

    def __init__(self, endpoints: Endpoints | None = None, wait: float = REPLY_WAIT,
                 remembered: int = REMEMBERED) -> None:
        """``endpoints``: the consumer's nodes; the replies' connection tries them in an order
        of its own, each for at most ``wait`` seconds (``bounded_connect``)."""
        self.endpoints = None if endpoints is None else Endpoints(
            endpoints.urls, configure=bounded_connect(wait, endpoints.configure))
        self.wait = wait
        self.user_id: str | None = None
        self._connection: pika.BlockingConnection | None = None
        self._channel = None
        self._results = ReplyResults()  # the batch's
        self._suspects = ReplySuspects(remembered)
        self._outstanding = Outstanding(self._end, self._suspects.answered)

    # -- life of the connection ----------------------------------------------------------------

    def serve(self) -> None:
        """Serves the replies' connection between batches (heartbeats, late confirms): called
        from the consumer's loop. A connection lost meanwhile is let go (the next reply opens
        another)."""
        if self._connection is None:
            return
        try:
            self._connection.process_data_events(time_limit=0)
        except _LOST as error:
            log.info("the replies' connection was lost (%s); the next reply opens another",
                     _said(error))
            self._drop()

    def close(self) -> None:
        """Closes the replies' connection (the consumer's connection closes, or it stops)."""
        connection = self._connection
        self._drop()
        if connection is not None:
            close_quietly(connection)

    def _drop(self) -> None:
        self._connection = None
        self._channel = None
        self._outstanding.clear()

    # -- a batch -------------------------------------------------------------------------------

    def send(self, connection: pika.BlockingConnection, replies: Sequence[ReplyOut]) -> Counter:
        """Publishes ``replies`` on the replies' connection and waits (at most ``wait`` seconds)
        for their confirms, serving ``connection`` (the consumer's) meanwhile; answers how many
        ended how. The replies' connection lost or not opened is counted, not raised; the
        consumer's connection lost is raised, after the replies out are counted as lost."""
        self._results = ReplyResults()
        sendable: list[ReplyOut] = []
        for reply in replies:
            if reply.queue is None:
                self._end(reply, INVALID, reply.refused or "reply_to refused")
            elif (why := self._suspects.refused_again(reply.queue)) is not None:
                self._end(reply, INVALID, why)
            else:
                sendable.append(reply)
        try:
            if sendable:
                self._deliver(connection, sendable)
        finally:
            self._results.report()
        return self._results.counts

    def _deliver(self, connection: pika.BlockingConnection, replies: list[ReplyOut]) -> None:
        """The replies to names not suspected together, then each one to a suspect alone."""
        deadline = time.monotonic() + self.wait
        plain = [reply for reply in replies if not self._suspects.suspected(reply.queue)]
        groups = ([plain] if plain else []) + [[reply] for reply in replies
                                               if self._suspects.suspected(reply.queue)]
        may_connect = True
        for i, group in enumerate(groups):
            # found out by a reply before it in the batch
            if (why := self._suspects.refusal(group[0].queue)) is not None:
                self._end_all(group, INVALID, why)
                continue
            rest = [reply for later in groups[i:] for reply in later]
            if time.monotonic() >= deadline:
                self._end_all(rest, UNCONFIRMED, f"not sent: the batch's {self.wait:g}s were "
                                                 "spent on its other replies")
                return
            if self._channel is None or not self._channel.is_open:
                if not may_connect:
                    self._end_all(rest, CONNECTION_CLOSED, "not sent: the replies' connection "
                                                           "closed under an earlier reply")
                    return
                try:
                    self._open()
                except _LOST as error:
                    self._drop()
                    self._end_all(rest, CONNECTION_CLOSED,
                                  f"the replies' connection could not be opened ({_said(error)})")
                    return
            try:
                self._publish(group)
                self._await(connection, deadline)
            except _Lost as lost:
                blamed = self._suspects.blame(lost.error)
                self._drop()
                # Reopened within the batch only when a name was found out, and refused now.
                may_connect = blamed
            finally:
                self._outstanding.clear()

    # -- the channel -------------------------------------------------------------------------

    def _open(self) -> None:
        """The replies' channel, on the replies' connection, each opened when there is none."""
        if self._connection is not None:  # what came meanwhile first: a close shows here
            try:
                self._connection.process_data_events(time_limit=0)
            except _LOST as error:
                log.info("the replies' connection was lost (%s); opening another", _said(error))
                self._drop()
        if self._connection is None or not self._connection.is_open:
            self._drop()
            if self.endpoints is None:
                raise pika.exceptions.AMQPConnectionError("no RabbitMQ node for the replies")
            self._connection = self.endpoints.connect()
            self.user_id = connected_user(self.endpoints.current)
            log.info("replies go on a connection of their own to %s",
                     where(self.endpoints.current))
        self._channel = channel = self._connection.channel()
        self._outstanding.restart()
        channel._impl.add_on_return_callback(self._outstanding.on_return)
        # Confirm.Select without waiting: the broker numbers the publishes after it from 1.
        channel._impl.confirm_delivery(ack_nack_callback=self._outstanding.on_confirm)

    def _publish(self, replies: Sequence[ReplyOut]) -> None:
        channel = self._channel
        for i, reply in enumerate(replies):
            properties = reply.properties(self.user_id)
            if not channel.is_open:
                self._end(reply, CHANNEL_CLOSED, "the broker closed the replies' channel")
                continue
            try:
                channel._impl.basic_publish(DEFAULT_EXCHANGE, reply.queue, reply.body, properties,
                                            mandatory=True)
            except _UNSENDABLE as error:  # marshalled before anything is written
                self._end(reply, UNSENDABLE, f"{type(error).__name__}: {error}")
                continue
            except _LOST as error:  # the connection is known to be closed
                self._end_all(replies[i:], CONNECTION_CLOSED, _closed(error))
                raise self._lost(error) from error
            self._outstanding.add(reply, properties.message_id)

    def _await(self, connection: pika.BlockingConnection, deadline: float) -> None:
        """Until every reply out is settled, the channel closes or ``deadline``: the replies'
        connection a slice at a time, the consumer's served in between."""
        while self._outstanding and self._channel.is_open:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            try:
                self._connection.process_data_events(time_limit=min(SLICE, left))
            except _LOST as error:
                raise self._lost(error) from error
            try:
                connection.process_data_events(time_limit=0)
            except _LOST:
                self._end_all(self._outstanding.replies(), CONNECTION_CLOSED,
                              "the consumer's connection was lost before its confirm")
                raise
        if not self._outstanding:
            return
        if not self._channel.is_open:
            self._end_all(self._outstanding.replies(), CHANNEL_CLOSED,
                          "the broker closed the replies' channel")
            self._channel = None
        else:  # a confirm that comes later finds nothing to settle
            self._end_all(self._outstanding.replies(), UNCONFIRMED,
                          f"not confirmed by the broker in {self.wait:g}s")

    def _lost(self, error: BaseException) -> _Lost:
        """The replies out when the replies' connection went, counted as lost with it; the names
        they go to are kept for the suspects' ``blame``."""
        out = self._outstanding.replies()
        self._end_all(out, CONNECTION_CLOSED, _closed(error))
        self._suspects.out(reply.queue for reply in out)
        return _Lost(error)

    def _end(self, reply: ReplyOut, result: str, reason: str) -> None:
        self._results.end(reply, result, reason)

    def _end_all(self, replies: Sequence[ReplyOut], result: str, reason: str) -> None:
        self._results.end_all(replies, result, reason)


def _closed(error: BaseException) -> str:
    return f"the replies' connection was closed before its confirm ({_said(error)})"


def _said(error: BaseException) -> str:
    if isinstance(error, ConnectionClosedByBroker):
        return f"closed by the broker: {error.reply_code} {error.reply_text}"
    return f"{type(error).__name__}: {error}"

