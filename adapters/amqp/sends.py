"""What became of a dead letter's send the broker did not confirm: as a metric's label and as
the letter's record says it (``Consumer._publish``)."""

from __future__ import annotations

from pika.exceptions import ChannelClosed, ConnectionClosedByBroker, NackError, UnroutableError

from adapters.amqp import topology as t


def send_failure_kind(error: BaseException) -> str:
    """The reason a send was not confirmed, as a metric's label (a bounded set)."""
    if isinstance(error, NackError):
        return "nacked"
    if isinstance(error, UnroutableError):
        return "returned"
    if isinstance(error, ChannelClosed):
        return "channel_closed"
    return "connection_closed"


def send_failure_reason(error: BaseException) -> str:
    """The reason a send was not confirmed, as the letter's record says it."""
    if isinstance(error, NackError):
        return "nacked by the broker"
    if isinstance(error, UnroutableError):
        return f"returned by the broker: no queue bound to {t.DEAD_EXCHANGE} took it"
    what = "channel" if isinstance(error, ChannelClosed) else "connection"
    if isinstance(error, ChannelClosed | ConnectionClosedByBroker):
        return f"the broker closed the {what} as it was sent: {error.reply_code} {error.reply_text}"
    return f"the connection was lost as it was sent: {type(error).__name__}: {error}"
