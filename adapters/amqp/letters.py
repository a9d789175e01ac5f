"""A dead letter as the consumer sends it (``adapters.amqp.inbound`` decides, the consumer's
batches send)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

from adapters.amqp import properties
from domain.inbound import Send


@dataclass(frozen=True)
class DeadLetterOut:
    """A dead letter to publish: the original body, id and properties (``kept``), the reason
    in the service's headers (``headers``); ``send`` says which send of its record's copy it
    is, and whether bare (without the publisher's headers)."""

    body: bytes
    message_id: str | None
    routing_key: str
    kept: dict
    headers: dict
    parked_id: UUID | None = None  # the parked message it ends, released once the broker confirms
    letter_id: UUID | None = None
    send: Send | None = None
    record: Any = field(default=None, compare=False, repr=False)
    """The record (``DeadLetter``) as this process last saved it: spares a read when the
    broker's confirmation is recorded."""

    def properties(self) -> Any:
        bare = self.send is not None and self.send.bare
        kept = properties.without_headers(self.kept) if bare else self.kept
        return properties.letter_properties(self.message_id, kept, self.headers)
