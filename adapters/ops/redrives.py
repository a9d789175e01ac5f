"""What became of re-driven dead letters, and the history of re-drives (operators' area).

A re-drive is recorded twice in the log (``adapters.amqp.redrive``): as an operator action
(``OperatorAction.Taken``, action ``dead_letters.requeue``: who, when, why, which letters) and on
each letter (``DeadLetter.Requeued``: who, when). What the consumer then did with the message is
read from the records it leaves:

- ``dead_lettered_again``: the letter was dead-lettered after that re-drive
  (``DeadLetter.DeadLetteredAgain``, with the code and detail of the refusal);
- ``applied``: the message's inbox marker (same id, same body) was made after the re-drive;
- ``duplicate``: its marker was there before the re-drive: the message had been applied
  meanwhile (by another path), so the re-drive changed nothing;
- ``parked``: refused as possibly early, it waits for its predecessor again;
- ``pending``: none of these yet (the consumer has not taken it), and ``not_redriven`` for a
  letter that re-drive never reached (its publish failed before it).

Everything is bounded: a history reads the re-drive actions of the log (a few per operator
day) and keeps the last ``limit``; each re-drive follows at most ``LETTERS`` of its letters.
"""

from __future__ import annotations

from collections import Counter, deque
from datetime import datetime
from typing import Any
from uuid import UUID

from domain.dead_letters import DeadLetter
from domain.inbound_messages import body_digest, parked_id
from domain.inbox import inbox_id
from domain.operations import REDRIVE, OperatorAction

LETTERS = 100
"""Letters followed per re-drive (a bulk re-drive's answer and history show this many)."""
DEFAULT_HISTORY = 20
MAX_HISTORY = 100

APPLIED, DUPLICATE, AGAIN = "applied", "duplicate", "dead_lettered_again"
PARKED, PENDING, NOT_REDRIVEN = "parked", "pending", "not_redriven"
STATES = (APPLIED, DUPLICATE, AGAIN, PARKED, PENDING, NOT_REDRIVEN)


class UnknownRedrive(LookupError):
    """No re-drive has this id."""


def _events(towns: Any, aggregate_id: UUID) -> list[Any]:
    return [e for e in towns.stored_events(aggregate_id) if not isinstance(e, Exception)]


def _get(towns: Any, aggregate_id: UUID) -> Any | None:
    return towns.repository.get(aggregate_id) if aggregate_id in towns.repository else None


def outcome(towns: Any, letter_id: UUID, since: datetime | None = None) -> dict:
    """What became of the re-drive of ``letter_id`` at or after ``since`` (its last re-drive
    when None): ``{"state", "code", "detail", "at", "by", "requeued_at"}``."""
    events = _events(towns, letter_id)
    if not events:
        return {"state": NOT_REDRIVEN, "code": None, "detail": "no dead letter has this id",
                "at": None, "by": None, "requeued_at": None}
    requeues = [i for i, e in enumerate(events) if isinstance(e, DeadLetter.Requeued)
                and (since is None or e.timestamp >= since)]
    if not requeues:
        return {"state": NOT_REDRIVEN, "code": None, "detail": "not re-driven", "at": None,
                "by": None, "requeued_at": None}
    start = requeues[-1] if since is None else requeues[0]
    requeued = events[start]
    found = {"by": requeued.by, "requeued_at": requeued.timestamp.isoformat(),
             "code": None, "detail": None, "at": None}
    for event in events[start + 1:]:
        if isinstance(event, DeadLetter.Requeued):
            break
        if isinstance(event, DeadLetter.DeadLetteredAgain):
            return {**found, "state": AGAIN, "code": event.code, "detail": event.detail,
                    "at": event.timestamp.isoformat()}
    letter = _get(towns, letter_id)
    marker = _marker(towns, letter)
    if marker is not None:
        made = marker.created_on
        state = APPLIED if made >= requeued.timestamp else DUPLICATE
        detail = ("applied as it was re-driven" if state == APPLIED
                  else "already applied before the re-drive: it changed nothing")
        return {**found, "state": state, "detail": detail, "at": made.isoformat()}
    parked = _get(towns, parked_id(letter.key)) if letter is not None else None
    if parked is not None and parked.open and parked.modified_on >= requeued.timestamp:
        return {**found, "state": PARKED, "code": parked.code,
                "detail": f"parked again, waiting for its predecessor: {parked.detail}",
                "at": parked.modified_on.isoformat()}
    return {**found, "state": PENDING, "detail": "not taken by the consumer yet"}


def _marker(towns: Any, letter: Any) -> Any | None:
    """The inbox marker of the letter's message when it holds the same body; else None."""
    if letter is None or not letter.message_id or letter.key != letter.message_id:
        return None
    body = letter.body_bytes()
    marker = _get(towns, inbox_id(letter.message_id))
    if marker is None or body is None:
        return None
    same = body_digest(body)
    return marker if same.startswith("json:") and marker.digest == same[5:] else None


def _describe(towns: Any, action: Any, follow: int) -> dict:
    details = action.details or {}
    ids = list(details.get("letters") or [])
    letters = []
    for letter_id in ids[:follow]:
        letter = _get(towns, UUID(letter_id))
        letters.append({
            "id": letter_id,
            "message_id": getattr(letter, "message_id", None),
            "code": getattr(letter, "code", None),
            "outcome": outcome(towns, UUID(letter_id), action.timestamp),
        })
    counts = Counter(item["outcome"]["state"] for item in letters)
    return {
        "id": str(action.originator_id),
        "by": action.actor,
        "at": action.timestamp.isoformat(),
        "reason": action.reason,
        "all": bool(details.get("all")),
        "filter": details.get("filter"),
        "count": int(details.get("count", len(ids))),
        "followed": len(letters),
        "outcomes": {state: counts.get(state, 0) for state in STATES if counts.get(state)},
        "letters": letters,
    }


def redrive(towns: Any, redrive_id: UUID, follow: int = LETTERS) -> dict:
    """One re-drive with what became of (at most ``follow`` of) its letters."""
    events = _events(towns, redrive_id)
    taken = next((e for e in events if isinstance(e, OperatorAction.Taken)
                  and e.action == REDRIVE), None)
    if taken is None:
        raise UnknownRedrive(f"no re-drive has the id {redrive_id}")
    return _describe(towns, taken, follow)


def history(towns: Any, limit: int = DEFAULT_HISTORY, follow: int = 10) -> list[dict]:
    """The last ``limit`` re-drives, newest first, each following its first ``follow`` letters."""
    last: deque = deque(maxlen=limit)
    for event in towns.events_with_topics([OperatorAction.Taken.TOPIC]):
        if isinstance(event, OperatorAction.Taken) and event.action == REDRIVE:
            last.append(event)
    return [_describe(towns, action, follow) for action in reversed(last)]
