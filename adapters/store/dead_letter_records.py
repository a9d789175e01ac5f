"""Dead letters as the service stores them (``domain.inbound``): recorded, sent, re-driven and
read a page at a time (part of ``adapters.store.inbound_records``)."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from eventsourcing.persistence import IntegrityError

from adapters.store.dead_letter_filter import LetterFilter
from domain.inbound import DeadLetter, Send, dead_letter_id, stored_body

FILTERED_CHUNK = 200
"""Records read at a time when a filter may pass over many of them."""


@dataclass(frozen=True)
class Dispatch:
    """A dead-lettering as recorded, and what to send to the broker for it: ``send`` None when
    its copy is there already, or was given up (``gave_up``: just now)."""

    letter: DeadLetter
    send: Send | None
    gave_up: bool = False


class UnknownLetter(LookupError):
    """A cursor or id that names no dead letter."""


class DeadLetterRecords:
    """Mixed into ``InboundRecords``, whose store it uses (``towns``, ``_get``, ``_retrying``), and
    whose parked messages ``sent`` releases (``release``)."""

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
                     after: UUID | None = None, where: LetterFilter | None = None) -> list[DeadLetter]:
        """Dead letters in the order first recorded, from the first or from the one after the
        letter ``after`` (``UnknownLetter`` if there is none); at most ``limit`` of them;
        ``open_only``: not re-driven since last dead-lettered; ``where``: only those it matches
        (the one place a listing and a bulk re-drive choose their letters). Read from the log a
        page at a time: a limit reads about that many letters, whatever the log holds; a filter
        tries what it can on each letter's first record before reading the letter."""
        start = 0 if after is None else self._position(after)
        chunk = limit or 1000
        if where:
            chunk = min(max(chunk, FILTERED_CHUNK), 1000)
        else:
            where = None
        found: list[DeadLetter] = []
        for letter in self._letters_from(start, chunk, where):
            if (letter.open or not open_only) and (where is None or where.matches(letter)):
                found.append(letter)
                if limit is not None and len(found) >= limit:
                    break
        return found

    def letter(self, letter_id: UUID) -> DeadLetter | None:
        return self._get(letter_id)

    def _letters_from(self, position: int, chunk: int,
                      where: LetterFilter | None = None) -> Iterator[DeadLetter]:
        """The letters first recorded after log position ``position``, read ``chunk`` at a
        time as they are used; with ``where``, only those whose first record it admits."""
        prefilter = where is not None and where.on_record
        for note in self._recorded_notes(position, chunk):
            if prefilter and not where.admits(self.towns.mapper.to_domain_event(note)):
                continue
            yield self._get(note.originator_id)

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


def _gave_up(letter: DeadLetter) -> bool:
    return any(isinstance(e, DeadLetter.GaveUp) for e in letter.pending_events)
