"""Dead letters and parked messages as the service stores them (``domain.inbound``), in the same
store as the applications, so they outlive any broker queue.

The dead letters' part is in ``dead_letter_records``, the parked messages' in ``parked_records``;
this module holds what both share, and ``InboundRecords`` joins them.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any, TypeVar
from uuid import UUID

from eventsourcing.persistence import IntegrityError

from adapters.store.dead_letter_records import (  # noqa: F401 - Dispatch, UnknownLetter re-exported
    DeadLetterRecords,
    Dispatch,
    UnknownLetter,
)
from adapters.store.parked_records import ParkedRecords, ParkingChange  # noqa: F401 - re-exported
from domain.inbound import (body_digest, dead_letter_id, decode_body, message_key, other_body_key,
                            parked_id)
from domain.service import Towns
from domain.work import Work

T = TypeVar("T")
ATTEMPTS = 3


def now() -> datetime:
    return datetime.now(timezone.utc)


class InboundRecords(DeadLetterRecords, ParkedRecords):
    def __init__(self, towns: Towns) -> None:
        self.towns = towns

    def _get(self, aggregate_id: UUID) -> Any | None:
        return Work(self.towns.repository).get(aggregate_id)

    def _retrying(self, change: Callable[[], tuple[Any, T]]) -> T:
        """Runs ``change`` (which returns the aggregate to save and a result) until it saves."""
        for attempt in range(ATTEMPTS):
            aggregate, result = change()
            try:
                if aggregate is not None and aggregate.pending_events:
                    self.towns.save(aggregate)
                return result
            except IntegrityError:
                if attempt == ATTEMPTS - 1:
                    raise
        raise AssertionError("unreachable")

    def key_of(self, message_id: str | None, body: bytes) -> str:
        """The key this message's records go under: its id (``message_key``), unless records
        under that id hold another body, another message under the same id; then a key of its
        own (``other_body_key``), so that neither is lost."""
        key = message_key(message_id, body)
        for record in (self._get(dead_letter_id(key)), self._get(parked_id(key))):
            if record is not None and not _same_body(record, body):
                return other_body_key(key, body)
        return key


def _same_body(record: Any, body: bytes) -> bool:
    """Whether a record (dead letter or parked) holds this body: the same message."""
    if getattr(record, "body", None) is None:  # too large to keep: its hash tells
        return getattr(record, "body_sha256", None) == hashlib.sha256(body).hexdigest()
    return body_digest(decode_body(record.body, record.body_encoding)) == body_digest(body)

