"""What ``towns dead-letters list`` prints: one JSON line a letter, or a table. A letter's
JSON is ``adapters.views.dead_letter_view``'s shape."""

from __future__ import annotations

import json
from collections.abc import Iterable
from itertools import chain, islice
from typing import TextIO

from adapters.views import dead_letter_view, instant
from domain.inbound import DeadLetter


def print_json_lines(letters: Iterable[DeadLetter], out: TextIO, include_closed: bool = False) -> None:
    for letter in letters:
        print(json.dumps(dead_letter_view(letter), ensure_ascii=False), file=out)


def print_table(letters: Iterable[DeadLetter], out: TextIO, include_closed: bool = False) -> None:
    """A table, printed as the letters are read; its columns are as wide as the first 500
    letters need."""
    which = "dead letters" if include_closed else "open dead letters"
    letters = iter(letters)
    first = list(islice(letters, 500))
    if not first:
        print(f"no {which}", file=out)
        return
    header = ("ID", "MESSAGE_ID", "CODE", "ATTEMPTS", "FIRST_SEEN",
              *(("OPEN",) if include_closed else ()), "RE-DRIVEN", "DETAIL")
    rows = [_row(letter, include_closed) for letter in first]
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(header[:-1])]

    def line(row: tuple[str, ...]) -> None:
        cells = [cell.ljust(width) for cell, width in zip(row, widths)]
        print("  ".join([*cells, row[-1]]).rstrip(), file=out)

    line(header)
    count = still_open = 0
    for letter in chain(first, letters):
        line(_row(letter, include_closed))
        count += 1
        still_open += letter.open
    print(f"{count} {which}" + (f", {still_open} open" if include_closed else ""), file=out)


def _row(letter: DeadLetter, include_closed: bool) -> tuple[str, ...]:
    detail = letter.detail
    if getattr(letter, "published", None) is False:
        detail += f" [not on the queue: {letter.publish_error}]"
    if letter.body is None:
        detail += f" [body not stored: {letter.body_length} bytes, sha256 {letter.body_sha256}]"
    return (
        str(letter.id),
        letter.message_id or "(none) " + letter.key[:19] + "…",
        letter.code,
        str(letter.attempts),
        instant(letter.first_seen),
        *((("yes" if letter.open else "no"),) if include_closed else ()),
        _redrives(letter),
        detail,
    )


def _redrives(letter: DeadLetter) -> str:
    if not letter.requeues:
        return "-"
    return "; ".join(f"{r['by']} at {r['at']}" for r in letter.requeues)
