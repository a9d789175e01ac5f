"""A delivery as the consumer reads it off the broker, and what of its headers is believed.

The ``x-towns-*`` headers (the original sender, routing key, first sight and re-drive time of a
message re-driven from the dead-letter queue) are believed only when the service's own user sent
the delivery: anyone else's are ignored (``Trust``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from adapters.amqp import properties
from adapters.amqp import topology as t
from domain.commands import Command
from domain.errors import DomainError


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


@dataclass(frozen=True)
class Delivery:
    """A message as the consumer took it from the broker."""

    body: bytes
    message_id: str | None = None
    user_id: str | None = None
    routing_key: str = ""
    headers: dict = field(default_factory=dict)
    content_type: str | None = None
    delivery_tag: int = 0
    received_at: float = 0.0
    prepared: Command | DomainError | None = None
    """What the ingest path made of it before deciding (``Inbound.prepare``), if done already."""
    amqp: Any = None
    """pika's ``BasicProperties`` of the delivery: what its dead letter keeps (``properties``)."""

    def kept(self) -> tuple[dict, bool]:
        """What its letter keeps of its properties, and whether the publisher's headers were
        left off, too large to send again (``properties.letter_kept``)."""
        return properties.letter_kept(self.amqp, self.content_type, self.headers)


class Trust:
    """What of a delivery's headers is believed: the service's own headers only on a re-drive
    by the service's own user (``service_user``)."""

    def __init__(self, service_user: str | None) -> None:
        self.service_user = service_user

    def redriven(self, delivery: Delivery) -> bool:
        """Sent by the service's own user: only then are the x-towns-* headers believed."""
        return bool(self.service_user) and delivery.user_id == self.service_user

    def header(self, delivery: Delivery, name: str) -> str | None:
        value = delivery.headers.get(name) if self.redriven(delivery) else None
        return value if isinstance(value, str) and value else None

    def first_seen(self, delivery: Delivery) -> datetime:
        seen = self.header(delivery, t.FIRST_SEEN)
        try:
            first = datetime.fromisoformat(seen) if seen else None
        except (TypeError, ValueError):
            first = None
        # A time without an offset cannot be compared with now: it would stop every sweep.
        return first if first is not None and first.utcoffset() is not None else utcnow()

    def window_from(self, delivery: Delivery, first_seen: datetime) -> datetime:
        """When the reorder window starts: at first sight, or at a re-drive if one came later
        (an operator re-drives a message to give it another chance, not an expired one)."""
        requeued = self.header(delivery, t.REQUEUED_AT)
        try:
            at = datetime.fromisoformat(requeued) if requeued else None
        except ValueError:
            at = None
        if at is None or at.utcoffset() is None:
            return first_seen
        return max(first_seen, at)

    def original_user(self, delivery: Delivery) -> str | None:
        """The sender: a re-drive names the original in ``x-towns-user-id``, or none when the
        original had none; anything else is its own ``user_id``."""
        if self.header(delivery, t.REQUEUED_AT) is not None:
            return self.header(delivery, t.USER_ID)
        if t.REQUEUED_AT in delivery.headers:
            return None  # a re-drive by another user than this consumer's: no sender is believed
        return self.header(delivery, t.USER_ID) or delivery.user_id

    def routing_key(self, delivery: Delivery) -> str:
        return self.header(delivery, t.ROUTING_KEY) or delivery.routing_key
