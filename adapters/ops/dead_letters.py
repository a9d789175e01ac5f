"""Dead letters a page at a time (CONTRACT.md §3): ``{"items": [...], "next_cursor"}``, each item
in ``adapters.views.dead_letter_view``'s shape, in the order the letters were first recorded.

Paged in the store, by log position (``InboundRecords.dead_letters``): a page reads about as many
letters as it shows, however many the log holds. The cursor is the id of the last letter of the
page; the next page starts after the log position at which that letter was first recorded, so it
keeps its place when letters are re-driven or dead-lettered again between two pages.

A filter (``adapters.store.dead_letter_filter.LetterFilter``: code, type, ref, call, user,
since, until) narrows a page, ``every`` and ``count`` alike, as it narrows a bulk re-drive
(``adapters.amqp.redrive.choose``).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from uuid import UUID

from adapters.views import dead_letter_view
from adapters.store.dead_letter_filter import LetterFilter
from adapters.store.inbound_records import InboundRecords, UnknownLetter
from domain.inbound import DeadLetter

DEFAULT_LIMIT = 50
MAX_LIMIT = 500
SCAN = 10_000
"""``count`` stops at this many matching letters (``truncated`` then)."""


class UnknownCursor(ValueError):
    """The cursor names no dead letter."""


@dataclass(frozen=True)
class Page:
    items: list[dict]
    next_cursor: str | None

    def as_dict(self) -> dict:
        return {"items": self.items, "next_cursor": self.next_cursor}


def page(records: InboundRecords, open_only: bool = True, limit: int = DEFAULT_LIMIT,
         cursor: str | None = None, where: LetterFilter | None = None) -> Page:
    """The letters after ``cursor`` (from the first when None), at most ``limit`` of them;
    ``open_only``: only those not re-driven since they were last dead-lettered; ``where``: only
    those it matches."""
    try:
        after = UUID(cursor) if cursor else None
        letters = records.dead_letters(open_only, limit + 1, after, where)
    except (ValueError, UnknownLetter):
        raise UnknownCursor(f"the cursor {cursor!r} names no dead letter") from None
    shown = letters[:limit]
    more = len(letters) > limit
    return Page([dead_letter_view(letter) for letter in shown],
                str(shown[-1].id) if more else None)


def every(records: InboundRecords, open_only: bool = True, size: int = MAX_LIMIT,
          where: LetterFilter | None = None, after: UUID | None = None) -> Iterator[DeadLetter]:
    """Every letter (``open_only``: the open ones; ``where``: those it matches; ``after``: those
    first recorded after that letter), read ``size`` at a time as they are used."""
    while True:
        letters = records.dead_letters(open_only, size, after, where)
        yield from letters
        if len(letters) < size:
            return
        after = letters[-1].id


def count(records: InboundRecords, where: LetterFilter | None = None, scan: int = SCAN) -> dict:
    """The open letters ``where`` matches: ``{"open", "redrivable" (their body stored: a
    re-drive can take them), "truncated"}``, counting at most ``scan`` of them."""
    found = redrivable = 0
    for letter in every(records, True, MAX_LIMIT, where):
        if found >= scan:
            return {"open": found, "redrivable": redrivable, "truncated": True}
        found += 1
        redrivable += letter.body is not None
    return {"open": found, "redrivable": redrivable, "truncated": False}
