"""Dead letters a page at a time (CONTRACT.md §3): ``{"items": [...], "next_cursor"}``, each item
in ``adapters.dead_letters_view``'s shape, in the order the letters were first recorded.

The cursor is the id of the last letter of the page. It keeps its place when letters are
re-driven or dead-lettered again between two pages: the next page starts after that letter in
the order of first recording, whatever the letters' state now.
"""

from __future__ import annotations

from dataclasses import dataclass
from uuid import UUID

from adapters.dead_letters_view import dead_letter_view
from adapters.inbound_records import InboundRecords

DEFAULT_LIMIT = 50
MAX_LIMIT = 500


class UnknownCursor(ValueError):
    """The cursor names no dead letter."""


@dataclass(frozen=True)
class Page:
    items: list[dict]
    next_cursor: str | None

    def as_dict(self) -> dict:
        return {"items": self.items, "next_cursor": self.next_cursor}


def page(records: InboundRecords, open_only: bool = True, limit: int = DEFAULT_LIMIT,
         cursor: str | None = None) -> Page:
    """The letters after ``cursor`` (from the first when None), at most ``limit`` of them;
    ``open_only``: only those not re-driven since they were last dead-lettered."""
    letters = records.dead_letters()
    start = 0
    if cursor:
        ids = [str(letter.id) for letter in letters]
        try:
            start = ids.index(str(UUID(cursor))) + 1
        except ValueError:
            raise UnknownCursor(f"the cursor {cursor!r} names no dead letter") from None
    chosen = [letter for letter in letters[start:] if letter.open or not open_only]
    shown = chosen[:limit]
    more = len(chosen) > limit
    return Page([dead_letter_view(letter) for letter in shown],
                str(shown[-1].id) if more else None)
