"""Dead letters and parked messages as the service stores them (``domain.inbound``), in the same
store as the applications, so they outlive any broker queue."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, TypeVar
from uuid import UUID

from eventsourcing.persistence import IntegrityError

from domain.inbound import (DeadLetter, ParkedMessage, body_digest, dead_letter_id, decode_body,
                            encode_body, message_key, other_body_key, parked_id)
from domain.service import Towns
from domain.work import Work

T = TypeVar("T")
ATTEMPTS = 3


@dataclass(frozen=True)
class ParkingChange:
    position: int
    parked_id: UUID
    application_id: str
    open: bool


def now() -> datetime:
    return datetime.now(timezone.utc)


class InboundRecords:
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
        this = body_digest(body)
        for record in (self._get(dead_letter_id(key)), self._get(parked_id(key))):
            if record is not None and body_digest(decode_body(record.body, record.body_encoding)) != this:
                return other_body_key(key, body)
        return key

    # -- dead letters ------------------------------------------------------------------------

    def dead_letter(
        self,
        key: str,
        message_id: str | None,
        code: str,
        detail: str,
        body: bytes,
        user_id: str | None,
        routing_key: str,
        first_seen: datetime,
        properties: str | None = None,
    ) -> DeadLetter:
        """Records a dead letter; a redelivery of one still open counts nothing more."""

        def change() -> tuple[DeadLetter, DeadLetter]:
            letter = self._get(dead_letter_id(key))
            if letter is None:
                text, encoding = encode_body(body)
                letter = DeadLetter.record(
                    key, message_id=message_id, code=code, detail=detail, body=text,
                    body_encoding=encoding, user_id=user_id, routing_key=routing_key,
                    first_seen=first_seen, properties=properties,
                )
            else:
                letter.again(code, detail)
            return letter, letter

        return self._retrying(change)

    def requeued(self, letter_id: UUID, by: str) -> DeadLetter:
        def change() -> tuple[DeadLetter, DeadLetter]:
            letter = self._get(letter_id)
            letter.requeued(by)
            return letter, letter

        return self._retrying(change)

    def dead_letters(self, open_only: bool = False) -> list[DeadLetter]:
        """Every dead letter in the order first recorded; ``open_only``: not re-driven since."""
        letters = [self._get(e.originator_id) for e in self._created(DeadLetter.Recorded.TOPIC)]
        return [x for x in letters if not open_only or x.open]

    def letter(self, letter_id: UUID) -> DeadLetter | None:
        return self._get(letter_id)

    # -- parked messages ---------------------------------------------------------------------

    def park(
        self,
        key: str,
        message_id: str | None,
        application_id: UUID,
        body: bytes,
        user_id: str | None,
        routing_key: str,
        first_seen: datetime,
        code: str,
        detail: str,
        window_from: datetime | None = None,
        properties: str | None = None,
    ) -> ParkedMessage:
        """Parks a message; one parked already (a redelivery) stays as it is. Its reorder
        window starts at ``window_from`` (a re-drive), else at ``first_seen``."""

        def change() -> tuple[ParkedMessage, ParkedMessage]:
            parked = self._get(parked_id(key))
            if parked is None:
                text, encoding = encode_body(body)
                parked = ParkedMessage.park(
                    key, message_id=message_id, application_id=str(application_id), body=text,
                    body_encoding=encoding,
                    user_id=user_id, routing_key=routing_key, first_seen=first_seen, code=code,
                    detail=detail, window_from=window_from, properties=properties,
                )
            elif not parked.open:
                parked.repark(first_seen, code, detail, window_from)
            return parked, parked

        return self._retrying(change)

    def release(self, parked_id_: UUID, outcome: str, code: str | None = None) -> None:
        def change() -> tuple[ParkedMessage | None, None]:
            parked = self._get(parked_id_)
            if parked is not None and parked.open:
                parked.release(outcome, code)
            return parked, None

        self._retrying(change)

    def open_parked(self) -> list[ParkedMessage]:
        parked = [self._get(e.originator_id) for e in self._created(ParkedMessage.Parked.TOPIC)]
        return [p for p in parked if p.open]

    def parked(self, parked_id_: UUID) -> ParkedMessage | None:
        return self._get(parked_id_)

    def parking_events(self, after: int) -> list[ParkingChange]:
        """What happened to parked messages after log position ``after``, in log order."""
        topics = [ParkedMessage.Parked.TOPIC, ParkedMessage.Reparked.TOPIC,
                  ParkedMessage.Released.TOPIC]
        changes, apps = [], {}
        position = after
        while True:
            notes = self.towns.recorder.select_notifications(
                start=position, limit=1000, topics=topics, inclusive_of_start=False)
            if not notes:
                return changes
            for note in notes:
                event = self.towns.mapper.to_domain_event(note)
                key = event.originator_id
                if isinstance(event, ParkedMessage.Parked):
                    apps[key] = event.application_id
                app = apps.get(key) or self._get(key).application_id
                apps[key] = app
                opened = not isinstance(event, ParkedMessage.Released)
                changes.append(ParkingChange(note.id, key, app, opened))
            position = notes[-1].id

    def _created(self, topic: str):
        return self.towns.events_with_topics([topic])
