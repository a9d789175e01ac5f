"""What ``towns publish`` sends: each message of a batch file as it goes on the wire (its
routing key, ``message_id`` and ``user_id``), the pace it is sent at (``TokenBucket``), and
what came of it (``PublishReport``). Nothing here touches a connection;
``adapters.amqp.publisher`` sends them."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import pika

from adapters.amqp.endpoints import first
from adapters.amqp.topology import EXCHANGE
from adapters.inbound.batch import DeadlineCheckRequest, Message

UNKNOWN_TYPE = "unknown"
"""The routing key of a body that is not a JSON object with a string ``type``."""

SHORTSTR = 255
"""AMQP short strings (routing key, message_id, user_id) hold at most 255 bytes."""


@dataclass(frozen=True)
class Outgoing:
    """One message as it goes on the wire."""

    body: bytes
    routing_key: str
    message_id: str | None
    user_id: str


# -- what to send ----------------------------------------------------------------------------


def routing_key(body: bytes) -> str:
    """The envelope's ``type``, or ``unknown`` when the body is not an object with a string type."""
    try:
        envelope = json.loads(body)
    except (UnicodeDecodeError, ValueError):
        return UNKNOWN_TYPE
    kind = envelope.get("type") if isinstance(envelope, dict) else None
    if not isinstance(kind, str) or len(kind.encode("utf-8")) > SHORTSTR:
        return UNKNOWN_TYPE
    return kind


def message_id(body: bytes) -> str | None:
    """The envelope's ``message_id`` when it is a string AMQP can carry; else none (the
    consumer then names the message by its body's hash)."""
    try:
        envelope = json.loads(body)
    except (UnicodeDecodeError, ValueError):
        return None
    value = envelope.get("message_id") if isinstance(envelope, dict) else None
    if isinstance(value, str) and value and len(value.encode("utf-8")) <= SHORTSTR:
        return value
    return None


def outgoing(
    items: Iterable[Message | DeadlineCheckRequest], connecting_user: str
) -> tuple[list[Outgoing], int]:
    """The messages of a batch and the number of control lines skipped."""
    out: list[Outgoing] = []
    skipped = 0
    for item in items:
        if not isinstance(item, Message):
            skipped += 1
            continue
        principal = item.principal
        user = principal.amqp_user if principal is not None and principal.amqp_user else connecting_user
        out.append(Outgoing(item.body, routing_key(item.body), message_id(item.body), user))
    return out, skipped


def connecting_user(url: str) -> str:
    return pika.URLParameters(first(url)).credentials.username


# -- pacing ----------------------------------------------------------------------------------


class TokenBucket:
    """``rate`` tokens a second, at most ``burst`` saved up; starts full."""

    def __init__(self, rate: float, burst: float = 1.0, clock: Callable[[], float] = time.monotonic):
        if rate <= 0:
            raise ValueError("the rate must be positive")
        self.rate = rate
        self.burst = max(1.0, burst)
        self.tokens = self.burst
        self.clock = clock
        self.stamp = clock()

    def delay(self) -> float:
        """Seconds until a token is available; 0 when one is."""
        now = self.clock()
        self.tokens = min(self.burst, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        return 0.0 if self.tokens >= 1 else (1 - self.tokens) / self.rate

    def take(self) -> None:
        self.tokens -= 1


# -- what came of it ---------------------------------------------------------------------------


@dataclass
class PublishReport:
    published: int = 0
    acked: int = 0
    nacked: int = 0
    returned: int = 0
    unconfirmed: int = 0  # still out when the connection closed
    unsent: int = 0
    error: str | None = None
    resent: int = 0  # sent again on another connection, after one was lost unconfirmed

    @property
    def confirmed(self) -> int:
        """Acknowledged and routed: the broker acknowledges a returned message too."""
        return max(0, self.acked - self.returned)

    @property
    def failed(self) -> int:
        return self.nacked + self.unconfirmed

    @property
    def ok(self) -> bool:
        return (self.error is None and self.unsent == 0 and self.returned == 0
                and self.acked == self.published)

    def line(self) -> str:
        line = (f"published {self.published}: confirmed {self.confirmed}, "
                f"returned {self.returned}, failed {self.failed}")
        if self.resent:
            line += f"; sent again {self.resent} after a connection was lost"
        return line

    def reason(self) -> str:
        """One line on what went wrong (for a report that is not ``ok``)."""
        parts = []
        if self.error:
            parts.append(self.error)
        if self.returned:
            parts.append(f"{self.returned} returned as unroutable: is a queue bound to {EXCHANGE}?")
        if self.nacked:
            parts.append(f"{self.nacked} refused (nacked) by the broker")
        if self.unconfirmed:
            parts.append(f"{self.unconfirmed} unconfirmed when the connection closed")
        if self.unsent:
            parts.append(f"{self.unsent} not sent")
        return "; ".join(parts) or "not every message was confirmed"
