"""How each of a batch's replies ended (``adapters.amqp.reply_sender``): those published are
settled by the broker's answers on the replies' channel (``Outstanding``: a confirm, a nack, a
return before the confirm), the others by the sender (not sendable, refused, lost with the
channel or the connection, unconfirmed in time). Each reply ends with one result, counted for
the metrics (``towns_ingest_replies_total{result}``), and those not delivered are named in one
WARNING line per result, with their ``reply_to`` and why (``ReplyResults``)."""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Sequence

from pika import spec

from adapters.amqp.replies import ReplyOut
from adapters.ops import metrics

log = logging.getLogger("towns.consume")

EXAMPLES = 5
"""Replies named in one warning line (the rest are counted)."""

CONFIRMED, RETURNED, NACKED, UNCONFIRMED = "confirmed", "returned", "nacked", "unconfirmed"
CHANNEL_CLOSED, CONNECTION_CLOSED, INVALID = "channel_closed", "connection_closed", "invalid_reply_to"
UNSENDABLE = "unsendable"


class ReplyResults:
    """The results of one batch's replies, and the reasons of those not delivered."""

    def __init__(self) -> None:
        self.counts: Counter[str] = Counter()
        self.failed: dict[str, list[tuple[ReplyOut, str]]] = {}

    def end(self, reply: ReplyOut, result: str, reason: str) -> None:
        self.counts[result] += 1
        if result != CONFIRMED:
            self.failed.setdefault(result, []).append((reply, reason))

    def end_all(self, replies: Sequence[ReplyOut], result: str, reason: str) -> None:
        for reply in replies:
            self.end(reply, result, reason)

    def report(self) -> None:
        """Counts the results in the metrics and names the replies not delivered in the log."""
        for result, count in self.counts.items():
            metrics.replied(result, count)
        for result, failed in self.failed.items():
            named = "; ".join(
                f"message_id {short(reply.correlation_id)} to reply_to "
                f"{short(reply.queue if reply.queue is not None else reply.reply_to)}: {reason}"
                for reply, reason in failed[:EXAMPLES])
            more = f" (and {len(failed) - EXAMPLES} more)" if len(failed) > EXAMPLES else ""
            log.warning("%d %s not delivered (%s): %s%s", len(failed),
                        "reply" if len(failed) == 1 else "replies", result, named, more)


class Outstanding:
    """The replies published on the replies' channel and not settled yet, by delivery tag (the
    broker numbers a channel's publishes from 1 after ``Confirm.Select``). ``end`` is called
    with the result of each one the broker settles, ``answered`` with its ``reply_to`` name."""

    def __init__(self, end: Callable[[ReplyOut, str, str], None],
                 answered: Callable[[str | None], None]) -> None:
        self._end = end
        self._answered = answered
        self._tag = 0
        self._replies: dict[int, tuple[ReplyOut, str]] = {}  # tag: reply, its message_id
        self._tags: dict[str, int] = {}  # the reply's own message_id: its delivery tag
        self._returned: set[int] = set()

    def __bool__(self) -> bool:
        return bool(self._replies)

    def replies(self) -> list[ReplyOut]:
        return [reply for reply, _ in self._replies.values()]

    def clear(self) -> None:
        """Forgets the replies out: a confirm that comes later finds nothing to settle."""
        self._replies.clear()
        self._tags.clear()
        self._returned.clear()

    def restart(self) -> None:
        """A new channel: nothing out, the next publish numbered 1."""
        self._tag = 0
        self.clear()

    def add(self, reply: ReplyOut, message_id: str) -> None:
        """``reply`` was published (with ``message_id``), the next on the channel."""
        self._tag += 1
        self._replies[self._tag] = (reply, message_id)
        self._tags[message_id] = self._tag

    def on_return(self, _channel, method, properties, _body) -> None:
        """Sent before the confirm of the same reply: no queue took it."""
        tag = self._tags.get(properties.message_id)
        if tag is not None:
            self._returned.add(tag)

    def on_confirm(self, frame) -> None:
        method = frame.method
        acked = isinstance(method, spec.Basic.Ack)
        if method.multiple:
            settled = [tag for tag in self._replies if tag <= method.delivery_tag]
        else:
            settled = [method.delivery_tag] if method.delivery_tag in self._replies else []
        for tag in settled:
            reply, message_id = self._replies.pop(tag)
            self._tags.pop(message_id, None)
            self._answered(reply.queue)
            if not acked:
                self._end(reply, NACKED, "nacked by the broker")
            elif tag in self._returned:
                self._returned.discard(tag)
                self._end(reply, RETURNED, f"returned by the broker: no queue named {reply.queue!r}")
            else:
                self._end(reply, CONFIRMED, "")


def short(value: object, limit: int = 80) -> str:
    """``value`` as a log line shows it: its ``repr``, cut at ``limit`` characters."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"
