"""What ``towns dead-letters list`` prints, and the JSON shape of a dead letter (CONTRACT.md §3:
``id``, ``message_id``, ``code``, ``detail``, ``first_seen``, ``attempts``, ``body`` with
``body_encoding``; more fields are welcome)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import TextIO

from domain.inbound import DeadLetter


def dead_letter_view(letter: DeadLetter) -> dict:
    return {
        "id": str(letter.id),
        "message_id": letter.message_id,
        "code": letter.code,
        "detail": letter.detail,
        "first_seen": _instant(letter.first_seen),
        "attempts": letter.attempts,
        "open": letter.open,
        "user_id": letter.user_id,
        "routing_key": letter.routing_key,
        "dead_lettered_at": _instant(letter.dead_lettered_at),
        "requeues": list(letter.requeues),
        "body": letter.body,
        "body_encoding": letter.body_encoding,
    }


def print_json_lines(letters: Sequence[DeadLetter], out: TextIO, include_closed: bool = False) -> None:
    for letter in letters:
        print(json.dumps(dead_letter_view(letter), ensure_ascii=False), file=out)


def print_table(letters: Sequence[DeadLetter], out: TextIO, include_closed: bool = False) -> None:
    which = "dead letters" if include_closed else "open dead letters"
    if not letters:
        print(f"no {which}", file=out)
        return
    rows = [
        (
            str(letter.id),
            letter.message_id or "(none) " + letter.key[:19] + "…",
            letter.code,
            str(letter.attempts),
            _instant(letter.first_seen),
            *((("yes" if letter.open else "no"),) if include_closed else ()),
            _redrives(letter),
            letter.detail,
        )
        for letter in letters
    ]
    header = ("ID", "MESSAGE_ID", "CODE", "ATTEMPTS", "FIRST_SEEN",
              *(("OPEN",) if include_closed else ()), "RE-DRIVEN", "DETAIL")
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(header[:-1])]
    for row in (header, *rows):
        cells = [cell.ljust(width) for cell, width in zip(row, widths)]
        print("  ".join([*cells, row[-1]]).rstrip(), file=out)
    still_open = sum(1 for letter in letters if letter.open)
    print(f"{len(letters)} {which}" + (f", {still_open} open" if include_closed else ""), file=out)


def _redrives(letter: DeadLetter) -> str:
    if not letter.requeues:
        return "-"
    return "; ".join(f"{r['by']} at {r['at']}" for r in letter.requeues)


def _instant(value: datetime | str | None) -> str | None:
    if value is None:
        return None
    return value.isoformat() if isinstance(value, datetime) else str(value)
