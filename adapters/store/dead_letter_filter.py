"""Which dead letters a listing or a bulk re-drive takes: one filter for the HTTP API, the page
and the command line (``LetterFilter``), applied in one place, the store's
``DeadLetterRecords.dead_letters``.

Every criterion is optional; those given must all hold (AND):

- ``code``: the code the letter was last dead-lettered with (``x-towns-error``);
- ``type``: the event type, the message's routing key;
- ``ref`` and ``call``: the envelope's ``application_ref`` and ``call_id`` (a body that is not a
  JSON object, or not stored, has neither);
- ``user``: the publisher's user (``user_id``, travelling as ``x-towns-user-id``);
- ``since`` and ``until``: the letter's first sight, ``since <= first_seen < until``, ISO 8601
  instants with an offset.

Every value is checked (``LetterFilter.parse``, ``text``, ``instant``) and bounded in length;
``FilterError`` names each field in error. All but ``code`` are fixed when a letter is first
recorded, so the store tries them on the recorded event (``admits``) before it reads the letter.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, fields
from datetime import UTC, datetime, timezone
from typing import Any

TEXTS: dict[str, tuple[int, str]] = {
    "code": (100, "the error code (x-towns-error)"),
    "type": (255, "the event type (routing key)"),
    "ref": (128, "the application_ref"),
    "call": (128, "the call_id"),
    "user": (255, "the publisher's user (user_id)"),
}
"""The text criteria: their longest value and what they name."""
INSTANTS: dict[str, str] = {
    "since": "first seen at or after this instant (ISO 8601 with an offset)",
    "until": "first seen before this instant (ISO 8601 with an offset)",
}
INSTANT_LENGTH = 64
NAMES = (*TEXTS, *INSTANTS)
"""Every criterion, in the order they are shown."""


class FilterError(ValueError):
    """Filter values that are not valid: ``details`` maps each field to what it must be."""

    def __init__(self, details: dict[str, str]) -> None:
        self.details = details
        super().__init__("invalid dead-letter filter: " + "; ".join(
            f"{name}: {message}" for name, message in details.items()))


def text(name: str, value: Any) -> str:
    """A text criterion: a string of 1 to its bound characters, no control character and no
    white space around it (as the contract's identifiers); else ``FilterError``."""
    longest, what = TEXTS[name]
    if (not isinstance(value, str) or not 0 < len(value) <= longest or value != value.strip()
            or any(ord(c) < 0x20 or ord(c) == 0x7F for c in value)):
        raise FilterError({name: f"{what}: 1-{longest} characters, no control character "
                                 "and no white space around it"})
    return value


def instant(name: str, value: Any) -> datetime:
    """An instant criterion: ISO 8601 with an offset; else ``FilterError``."""
    wrong = FilterError({name: "an ISO 8601 instant with an offset, such as "
                               "2017-03-20T09:00:00+08:00"})
    if not isinstance(value, str) or not 0 < len(value) <= INSTANT_LENGTH:
        raise wrong
    try:
        found = datetime.fromisoformat(value)
    except ValueError:
        raise wrong from None
    if found.tzinfo is None:
        raise wrong
    return found


@dataclass(frozen=True)
class LetterFilter:
    code: str | None = None
    type: str | None = None
    ref: str | None = None
    call: str | None = None
    user: str | None = None
    since: datetime | None = None
    until: datetime | None = None

    @classmethod
    def parse(cls, values: Mapping[str, Any]) -> LetterFilter:
        """The filter of ``values`` (criterion → raw value; None or absent: not a criterion);
        ``FilterError`` naming every field in error, or an empty range."""
        found: dict[str, Any] = {}
        errors: dict[str, str] = {}
        for name in NAMES:
            value = values.get(name)
            if value is None:
                continue
            try:
                found[name] = text(name, value) if name in TEXTS else instant(name, value)
            except FilterError as error:
                errors.update(error.details)
        if errors:
            raise FilterError(errors)
        return cls(**found).checked()

    def checked(self) -> LetterFilter:
        """Itself, when its time range is not empty; else ``FilterError``."""
        if self.since is not None and self.until is not None and self.since >= self.until:
            raise FilterError({"until": "later than since"})
        return self

    def with_code(self, code: str | None) -> LetterFilter:
        """This filter, with ``code`` when one is given."""
        return self if code is None else LetterFilter(**{**self._set(), "code": code})

    def __bool__(self) -> bool:
        return bool(self._set())

    def as_dict(self) -> dict[str, str]:
        """The criteria given, instants in ISO 8601: as recorded and answered."""
        return {name: value.isoformat() if isinstance(value, datetime) else value
                for name, value in self._set().items()}

    def _set(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)
                if getattr(self, f.name) is not None}

    @property
    def on_record(self) -> bool:
        """Whether a criterion can be tried on the letter's first record (``admits``)."""
        return any(getattr(self, name) is not None for name in NAMES if name != "code")

    def admits(self, record: Any) -> bool:
        """Whether the criteria fixed at a letter's first recording hold for ``record``: the
        letter, or its ``DeadLetter.Recorded`` event."""
        if self.type is not None and getattr(record, "routing_key", None) != self.type:
            return False
        if self.user is not None and getattr(record, "user_id", None) != self.user:
            return False
        if self.since is not None or self.until is not None:
            seen = _aware(getattr(record, "first_seen", None))
            if seen is None or (self.since is not None and seen < self.since) or \
                    (self.until is not None and seen >= self.until):
                return False
        if self.ref is not None or self.call is not None:
            envelope = _envelope(record)
            if self.ref is not None and envelope.get("application_ref") != self.ref:
                return False
            if self.call is not None and envelope.get("call_id") != self.call:
                return False
        return True

    def matches(self, letter: Any) -> bool:
        """Whether every criterion holds for the dead letter as it stands."""
        return (self.code is None or letter.code == self.code) and self.admits(letter)


def _aware(value: Any) -> datetime | None:
    if not isinstance(value, datetime):
        return None
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def _envelope(record: Any) -> dict:
    """The stored body as a JSON object; empty when it is not one (or not stored, or not UTF-8)."""
    body = getattr(record, "body", None)
    if not isinstance(body, str) or getattr(record, "body_encoding", None) == "base64":
        return {}
    try:
        found = json.loads(body)
    except ValueError:
        return {}
    return found if isinstance(found, dict) else {}
