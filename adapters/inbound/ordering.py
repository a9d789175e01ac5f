"""The order of inbound messages, whatever the transport brings them by.

A message the service refuses with a code that may only mean that it came before its
predecessor (``EARLY_CODES``: an unknown application, a transition not allowed yet) is held back
("parked") for the reorder window. It is tried again whenever its application changes, until
nothing moves, and after the window, one last time before it is given up. The parking records are
the truth (``InboundRecords``): this holds the open ones by application, and reads those written
since its last look, by this process or another (``refresh``).

What a try is (which principal sends the message), how the parking record is written, and what a
message refused for good becomes (a dead letter) are the caller's: ``attempt``, ``hold`` and
``give_up``.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from adapters.store.inbound_records import InboundRecords
from domain.applications import application_id
from domain.commands import Outcome
from domain.errors import DomainError
from domain.inbound import EARLY_CODES, ParkedMessage

Attempt = Callable[[ParkedMessage], "Outcome | DomainError"]
"""Sends a parked message through the ingest path again."""
GiveUp = Callable[[UUID, ParkedMessage, DomainError], list[Any]]
"""Records a parked message refused for good, forgets it (``Reordering.forget``), and says what
is owed for it (dead letters to send)."""


def early(error: DomainError) -> bool:
    """Whether a refusal may only mean that the message came before its predecessor."""
    return error.code in EARLY_CODES


def application_of(body: bytes) -> UUID:
    """The application an early message is about (early: it passed the schemas)."""
    envelope = json.loads(body)
    return application_id(envelope["call_id"], envelope["application_ref"])


class Reordering:
    """The parked messages of a consumer, by application, and what moves them."""

    def __init__(self, records: InboundRecords, window: timedelta, attempt: Attempt,
                 give_up: GiveUp) -> None:
        self.records = records
        self.window = window
        self.attempt = attempt
        self.give_up = give_up
        self.parked: dict[UUID, list[ParkedMessage]] = {}
        self._parked_seen = 0  # log position up to which parking records were read
        self.refresh()

    def refresh(self) -> None:
        """Reads the parking records written since the last look, by this process or another
        (a hot standby becomes active with an up-to-date list)."""
        for event in self.records.parking_events(self._parked_seen):
            self._parked_seen = max(self._parked_seen, event.position)
            app_id, key = UUID(event.application_id), event.parked_id
            waiting = [p for p in self.parked.get(app_id, []) if p.id != key]
            current = self.records.parked(key) if event.open else None
            if current is not None and current.open:
                waiting.append(current)
                waiting.sort(key=lambda p: p.first_seen)
            if waiting:
                self.parked[app_id] = waiting
            else:
                self.parked.pop(app_id, None)

    @property
    def count(self) -> int:
        return sum(len(v) for v in self.parked.values())

    def hold(self, app_id: UUID, parked: ParkedMessage) -> None:
        """Holds a message whose parking record was just written (once, however often it came)."""
        waiting = self.parked.setdefault(app_id, [])
        if all(p.id != parked.id for p in waiting):
            waiting.append(parked)

    def retry(self, changed: Sequence[UUID]) -> tuple[list[Any], int]:
        """Retries the messages parked on applications that changed, until nothing moves: what
        ``give_up`` owes for those refused for good, and how many were applied."""
        out: list[Any] = []
        applied = 0
        queue = [a for a in dict.fromkeys(changed) if a in self.parked]
        while queue:
            app_id = queue.pop(0)
            for parked in list(self.parked.get(app_id, [])):
                result = self.attempt(parked)
                if isinstance(result, Outcome):
                    self.release(app_id, parked, "duplicate" if result.duplicate else "applied")
                    if not result.duplicate:
                        applied += 1
                        queue.append(app_id)
                        break
                elif not early(result):
                    out.extend(self.give_up(app_id, parked, result))
        return out, applied

    def expire(self, now: datetime) -> tuple[list[Any], int]:
        """Gives up the parked messages whose window has passed by ``now``, after one last try
        (``retry`` of them all first)."""
        self.refresh()
        out, applied = self.retry(list(self.parked))
        for app_id, waiting in list(self.parked.items()):
            for parked in list(waiting):
                if parked.window_from + self.window <= now:
                    result = self.attempt(parked)
                    if isinstance(result, Outcome):
                        self.release(app_id, parked, "duplicate" if result.duplicate else "applied")
                    else:
                        out.extend(self.give_up(app_id, parked, result))
        return out, applied

    def release(self, app_id: UUID, parked: ParkedMessage, outcome: str,
                code: str | None = None) -> None:
        self.records.release(parked.id, outcome, code)
        self.forget(app_id, parked)

    def forget(self, app_id: UUID, parked: ParkedMessage) -> None:
        waiting = self.parked.get(app_id, [])
        waiting[:] = [p for p in waiting if p.id != parked.id]
        if not waiting:
            self.parked.pop(app_id, None)
