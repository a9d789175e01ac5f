"""Dead letters and parked messages as the service stores them (``domain.inbound``), in the same
store as the applications, so they outlive any broker queue."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, TypeVar
from uuid import UUID

from eventsourcing.persistence import IntegrityError

from domain.inbound import (DeadLetter, ParkedMessage, Send, body_digest, dead_letter_id,
                            decode_body, encode_body, message_key, other_body_key, parked_id,
                            stored_body)
from domain.service import Towns
from domain.work import Work

T = TypeVar("T")
ATTEMPTS = 3


@dataclass(frozen=True)
class Dispatch:
    """A dead-lettering as recorded, and what to send to the broker for it: ``send`` None when
    its copy is there already, or was given up (``gave_up``: just now)."""

    letter: DeadLetter
    send: Send | None
    gave_up: bool = False


class UnknownLetter(LookupError):
    """A cursor or id that names no dead letter."""


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
        for record in (self._get(dead_letter_id(key)), self._get(parked_id(key))):
            if record is not None and not _same_body(record, body):
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
        headers_too_large: bool = False,
    ) -> Dispatch:
        """Records a dead-lettering, and says what to send for it: a redelivery of a letter
        still open counts nothing more, and sends again only a copy not confirmed yet
        (``DeadLetter.resend``)."""

        def change() -> tuple[DeadLetter, Dispatch]:
            letter = self._get(dead_letter_id(key))
            if letter is None:
                kept = stored_body(body)
                letter = DeadLetter.record(
                    key, message_id=message_id, code=code, detail=detail, body=kept.text,
                    body_encoding=kept.encoding, user_id=user_id, routing_key=routing_key,
                    first_seen=first_seen, properties=properties, body_length=kept.length,
                    body_sha256=kept.sha256, headers_too_large=headers_too_large,
                )
                return letter, Dispatch(letter, letter.first_send())
            if letter.again(code, detail):
                return letter, Dispatch(letter, letter.first_send())
            send = letter.resend()
            return letter, Dispatch(letter, send, send is None and _gave_up(letter))

        return self._retrying(change)

    def resend(self, letter_id: UUID) -> Dispatch:
        """What to send for a letter whose copy is owed (``DeadLetter.resend``)."""

        def change() -> tuple[DeadLetter, Dispatch]:
            letter = self._get(letter_id)
            send = letter.resend() if letter.open else None
            return letter, Dispatch(letter, send, send is None and _gave_up(letter))

        return self._retrying(change)

    def sent(self, sends: Sequence[tuple[UUID, Send]], released: Sequence[tuple[UUID, str]] = (),
             letters: dict[UUID, DeadLetter] | None = None) -> None:
        """The broker confirmed these sends; the parked messages ``released`` (id, code) are
        released as dead-lettered with them. One write for all (a batch's), or one each when
        another writer got there first. ``letters``: the letters as last seen, to spare the
        reads when nobody changed them since."""
        letters = letters or {}
        changed: list[Any] = []
        for letter_id, send in sends:
            letter = letters.get(letter_id) or self._get(letter_id)
            if letter is not None and letter.sent(send):
                changed.append(letter)
        for key, code in released:
            parked = self._get(key)
            if parked is not None and parked.open:
                parked.release("dead_lettered", code)
                changed.append(parked)
        if not changed:
            return
        try:
            self.towns.save(*changed)
        except IntegrityError:  # one was changed meanwhile: each on its own, read again
            for letter_id, send in sends:
                self._change_letter(letter_id, lambda letter, s=send: letter.sent(s))
            for key, code in released:
                self.release(key, "dead_lettered", code)

    def not_sent(self, failures: Sequence[tuple[UUID, Send, str]]) -> None:
        """The broker did not confirm these sends (letter id, send, reason)."""
        for letter_id, send, reason in failures:
            self._change_letter(letter_id, lambda letter, s=send, r=reason: letter.not_sent(s, r))

    def _change_letter(self, letter_id: UUID, change: Callable[[DeadLetter], object]) -> None:
        def changed() -> tuple[DeadLetter | None, None]:
            letter = self._get(letter_id)
            if letter is not None:
                change(letter)
            return letter, None

        self._retrying(changed)

    def requeued(self, letter_id: UUID, by: str) -> DeadLetter:
        def change() -> tuple[DeadLetter, DeadLetter]:
            letter = self._get(letter_id)
            letter.requeued(by)
            return letter, letter

        return self._retrying(change)

    def dead_letters(self, open_only: bool = False, limit: int | None = None,
                     after: UUID | None = None) -> list[DeadLetter]:
        """Dead letters in the order first recorded, from the first or from the one after the
        letter ``after`` (``UnknownLetter`` if there is none); at most ``limit`` of them;
        ``open_only``: not re-driven since last dead-lettered. Read from the log a page at a
        time: a limit reads about that many letters, whatever the log holds."""
        start = 0 if after is None else self._position(after)
        found: list[DeadLetter] = []
        for letter in self._letters_from(start, limit or 1000):
            if letter.open or not open_only:
                found.append(letter)
                if limit is not None and len(found) >= limit:
                    break
        return found

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
        headers_too_large: bool = False,
    ) -> ParkedMessage:
        """Parks a message; one parked already (a redelivery) stays as it is. Its reorder
        window starts at ``window_from`` (a re-drive), else at ``first_seen``. Its body is kept
        whole: a message is parked only once it was read and checked, so it is at most the
        contract's 256 KiB."""

        def change() -> tuple[ParkedMessage, ParkedMessage]:
            parked = self._get(parked_id(key))
            if parked is None:
                text, encoding = encode_body(body)
                parked = ParkedMessage.park(
                    key, message_id=message_id, application_id=str(application_id), body=text,
                    body_encoding=encoding,
                    user_id=user_id, routing_key=routing_key, first_seen=first_seen, code=code,
                    detail=detail, window_from=window_from, properties=properties,
                    headers_too_large=headers_too_large,
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

    def _letters_from(self, position: int, chunk: int) -> Iterator[DeadLetter]:
        """The letters first recorded after log position ``position``, read ``chunk`` at a
        time as they are used."""
        return (self._get(note.originator_id) for note in self._recorded_notes(position, chunk))

    def _recorded_notes(self, position: int, chunk: int) -> Iterator[Any]:
        while True:
            notes = self.towns.recorder.select_notifications(
                start=position, limit=chunk, topics=[DeadLetter.Recorded.TOPIC],
                inclusive_of_start=False)
            yield from notes
            if len(notes) < chunk:
                return
            position = notes[-1].id

    def _position(self, letter_id: UUID) -> int:
        """The log position at which the letter was first recorded."""
        position_of = getattr(self.towns.recorder, "position_of", None)
        if position_of is not None:
            position = position_of(letter_id, 1)
        else:  # a store without the lookup (in memory): read the log
            position = next((n.id for n in self._recorded_notes(0, 1000)
                             if n.originator_id == letter_id), None)
        if position is None:
            raise UnknownLetter(f"no dead letter has the id {letter_id}")
        return position


def _same_body(record: Any, body: bytes) -> bool:
    """Whether a record (dead letter or parked) holds this body: the same message."""
    if getattr(record, "body", None) is None:  # too large to keep: its hash tells
        return getattr(record, "body_sha256", None) == hashlib.sha256(body).hexdigest()
    return body_digest(decode_body(record.body, record.body_encoding)) == body_digest(body)


def _gave_up(letter: DeadLetter) -> bool:
    return any(isinstance(e, DeadLetter.GaveUp) for e in letter.pending_events)
