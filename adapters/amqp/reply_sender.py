"""Publishes the replies of a batch (``adapters.amqp.replies``) on a channel of their own, with
publisher confirms, after the batch's commit and before its ack.

The delivery guarantee is at least once, within a bounded wait:

- A reply is published only once the store holds what decided it (the batch's commit, or the
  dead-letter record of a refusal), so no reply announces what the store could still lose.
- The batch is acknowledged only after its replies are confirmed by the broker, or after
  ``REPLY_WAIT`` seconds, whichever comes first: a lost connection or a crash before that means
  redelivery, and the redelivered message is answered again (``duplicate`` for one applied
  before; the ``correlation_id`` lets the sender drop the repeat). A reply still unconfirmed
  after the wait is counted (``unconfirmed``) and the batch acknowledged all the same: a reply
  never holds the inbound queue up for longer than that.
- A reply that no queue takes (``reply_to`` names none: it comes back as ``Basic.Return``), that
  the broker refuses (nack), or that closes its channel, is counted
  (``towns_ingest_replies_total{result}``), logged at WARNING, and not sent again; the
  consumer goes on. Only this channel is lost then: the next batch opens another.
- The final outcome of a parked message is decided by a retry, not by a delivery (the message
  was acknowledged when parked): its reply is not sent again after a lost connection or a crash
  (at most once).

All of a batch's replies are published in a row and their confirms awaited together: one round
trip per batch, not one per reply. pika's ``BlockingChannel`` waits for each confirm as it
publishes; so this publishes on the channel's asynchronous implementation (``_impl``) and lets
the connection's own loop (``process_data_events``) bring the confirms and returns, which also
keeps serving heartbeats and deliveries meanwhile.
"""

from __future__ import annotations

import logging
import struct
import time
from collections import Counter
from collections.abc import Sequence

import pika
from pika import spec
from pika.exceptions import AMQPError, ShortStringTooLong, UnsupportedAMQPFieldException

from adapters.amqp.replies import ReplyOut
from adapters.ops import metrics

log = logging.getLogger("towns.consume")

REPLY_WAIT = 5.0
"""The most seconds a batch's ack waits for the confirms of its replies."""
DEFAULT_EXCHANGE = ""
EXAMPLES = 5
"""Replies named in one warning line (the rest are counted)."""

CONFIRMED, RETURNED, NACKED, UNCONFIRMED = "confirmed", "returned", "nacked", "unconfirmed"
CHANNEL_CLOSED, CONNECTION_CLOSED, INVALID = "channel_closed", "connection_closed", "invalid_reply_to"
UNSENDABLE = "unsendable"

_UNSENDABLE = (ShortStringTooLong, UnsupportedAMQPFieldException, TypeError, ValueError,
               OverflowError, struct.error)


class ReplySender:
    """The replies of one consumer connection: a channel opened at the first reply and again
    after the broker closed it (``reset`` when the connection goes)."""

    def __init__(self, user_id: str | None = None, wait: float = REPLY_WAIT) -> None:
        self.user_id = user_id
        self.wait = wait
        self._channel = None
        self._tag = 0
        self._outstanding: dict[int, tuple[ReplyOut, str]] = {}  # tag: reply, its message_id
        self._tags: dict[str, int] = {}  # the reply's own message_id: its delivery tag
        self._returned: set[int] = set()
        self._results: Counter[str] = Counter()
        self._failed: dict[str, list[tuple[ReplyOut, str]]] = {}

    def reset(self) -> None:
        """The connection is gone, and the channel with it."""
        self._channel = None
        self._outstanding.clear()
        self._tags.clear()
        self._returned.clear()

    def send(self, connection: pika.BlockingConnection, replies: Sequence[ReplyOut]) -> Counter:
        """Publishes ``replies`` and waits (at most ``wait`` seconds) for their confirms;
        answers how many ended how. A lost connection is raised, after the replies out are
        counted as lost with it."""
        self._results, self._failed = Counter(), {}
        for reply in replies:
            if reply.queue is None:
                self._end(reply, INVALID, reply.refused or "reply_to refused")
        sendable = [reply for reply in replies if reply.queue is not None]
        try:
            if sendable:
                self._publish(connection, sendable)
                self._await(connection)
        except (AMQPError, OSError):
            for reply, _ in self._outstanding.values():
                self._end(reply, CONNECTION_CLOSED, "the connection was lost before its confirm")
            self.reset()
            raise
        finally:
            self._report()
        return self._results

    # -- the channel -------------------------------------------------------------------------

    def _open(self, connection: pika.BlockingConnection):
        if self._channel is not None and self._channel.is_open:
            return self._channel
        self._channel = channel = connection.channel()
        self._tag = 0
        self._outstanding.clear()
        self._tags.clear()
        self._returned.clear()
        channel._impl.add_on_return_callback(self._on_return)
        # Confirm.Select without waiting: the broker numbers the publishes after it from 1.
        channel._impl.confirm_delivery(ack_nack_callback=self._on_confirm)
        return channel

    def _publish(self, connection: pika.BlockingConnection, replies: Sequence[ReplyOut]) -> None:
        channel = self._open(connection)
        for reply in replies:
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
            self._tag += 1
            self._outstanding[self._tag] = (reply, properties.message_id)
            self._tags[properties.message_id] = self._tag

    def _await(self, connection: pika.BlockingConnection) -> None:
        deadline = time.monotonic() + self.wait
        while self._outstanding and self._channel.is_open:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            connection.process_data_events(time_limit=min(0.05, left))
        if not self._outstanding:
            return
        if not self._channel.is_open:
            for reply, _ in self._outstanding.values():
                self._end(reply, CHANNEL_CLOSED, "the broker closed the replies' channel")
            self._channel = None
        else:  # a confirm that comes later finds nothing to settle
            for reply, _ in self._outstanding.values():
                self._end(reply, UNCONFIRMED, f"not confirmed by the broker in {self.wait:g}s")
        self._outstanding.clear()
        self._tags.clear()
        self._returned.clear()

    # -- the broker's answers (in the connection's loop) -------------------------------------

    def _on_return(self, _channel, method, properties, _body) -> None:
        """Sent before the confirm of the same reply: no queue took it."""
        tag = self._tags.get(properties.message_id)
        if tag is not None:
            self._returned.add(tag)

    def _on_confirm(self, frame) -> None:
        method = frame.method
        acked = isinstance(method, spec.Basic.Ack)
        if method.multiple:
            settled = [tag for tag in self._outstanding if tag <= method.delivery_tag]
        else:
            settled = [method.delivery_tag] if method.delivery_tag in self._outstanding else []
        for tag in settled:
            reply, message_id = self._outstanding.pop(tag)
            self._tags.pop(message_id, None)
            if not acked:
                self._end(reply, NACKED, "nacked by the broker")
            elif tag in self._returned:
                self._returned.discard(tag)
                self._end(reply, RETURNED, f"returned by the broker: no queue named {reply.queue!r}")
            else:
                self._end(reply, CONFIRMED, "")

    # -- what came of them ---------------------------------------------------------------------

    def _end(self, reply: ReplyOut, result: str, reason: str) -> None:
        self._results[result] += 1
        if result != CONFIRMED:
            self._failed.setdefault(result, []).append((reply, reason))

    def _report(self) -> None:
        for result, count in self._results.items():
            metrics.replied(result, count)
        for result, failed in self._failed.items():
            named = "; ".join(
                f"message_id {_short(reply.correlation_id)} to reply_to "
                f"{_short(reply.queue if reply.queue is not None else reply.reply_to)}: {reason}"
                for reply, reason in failed[:EXAMPLES])
            more = f" (and {len(failed) - EXAMPLES} more)" if len(failed) > EXAMPLES else ""
            log.warning("%d %s not delivered (%s): %s%s", len(failed),
                        "reply" if len(failed) == 1 else "replies", result, named, more)


def _short(value: object, limit: int = 80) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"
