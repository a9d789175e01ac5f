"""Reading an application's history: replay to a point, and verify its hash chain.

Replays fold the recorded events with the aggregate's mutators, which never refuse, so any
selection of the history (as of a business time, as known at a record time, up to a version)
gives the state it implies.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Sequence

from domain.applications import Application
from domain.hashing import GENESIS


def select(
    events: Sequence[Application.Event],
    as_of: datetime | None = None,
    known_at: datetime | None = None,
    version: int | None = None,
) -> list[Application.Event]:
    """The events of the history that count at that point. A reinstatement counts only with
    the lapse it ends: it is dated by its evidence, which can be earlier than the lapse (dated
    at the check), and as of a time before the lapse there was nothing to reinstate."""
    chosen = [
        e
        for e in events
        if (version is None or e.originator_version <= version)
        and (known_at is None or e.timestamp <= known_at)
        and (as_of is None or e.occurred_at <= as_of)
    ]
    lapsed = False
    counted = []
    for event in chosen:
        if isinstance(event, Application.Reinstated) and not lapsed:
            continue
        lapsed = lapsed or isinstance(event, Application.Lapsed)
        counted.append(event)
    return counted


def fold(events: Sequence[Application.Event]) -> Application | None:
    """The state the events imply; None when the submission is not among them. Its version is
    the number of events that count (CONTRACT.md: the number of events in its history), which
    is less than the last one's version when a business time leaves some out."""
    if not events or events[0].originator_version != 1:
        return None
    app = events[0].mutate(None)
    for event in events[1:]:
        event.apply(app)
        app.modified_on = event.timestamp
    app.version = len(events)
    return app


@dataclass(frozen=True)
class ChainBreak:
    version: int
    reason: str

    def as_dict(self) -> dict[str, Any]:
        return {"version": self.version, "reason": self.reason}


def first_break(events: Sequence[Application.Event | Exception],
                computed: Sequence[str | None] | None = None) -> ChainBreak | None:
    """The first event whose hash or link does not hold; an event that cannot be decoded is one.
    ``computed``, where given, holds for each event what its ``computed_hash()`` gives, or None
    where it is to be asked."""
    previous = GENESIS
    for position, event in enumerate(events, start=1):
        if isinstance(event, Exception):
            return ChainBreak(position, f"event {position} cannot be decoded: {event}")
        try:
            reason = link_break(previous, event,
                                None if computed is None else computed[position - 1])
        except Exception as error:  # noqa: BLE001 - a record that decodes to a broken event
            return ChainBreak(position, f"event {position} is not a whole event: {error}")
        if reason:
            return ChainBreak(event.originator_version, reason)
        previous = event.hash
    return None


def link_break(previous: str, event: Application.Event, computed: str | None = None) -> str | None:
    """Why ``event`` does not follow ``previous`` (the hash of the event before it, ``GENESIS``
    for the first) or does not match its own content; None if it holds. Raises what computing
    the hash of a broken event raises. ``computed``: what ``event.computed_hash()`` gives,
    where known."""
    if event.prev_hash != previous:
        return "link to the previous event does not match"
    if (event.computed_hash() if computed is None else computed) != event.hash:
        return "content does not match its hash"
    return None
