"""The service's own records of inbound messages it could not apply at once.

A *dead letter* is a message refused for good: it never expires and stays listed with its reason,
whatever happens to the broker's queue. A *parked* message was refused as possibly early
(``unknown_application``, ``invalid_transition``, ``precondition_failed``): it waits for its
application to change, and becomes a dead letter when its reorder window has passed.

Bodies are kept exactly: as text when they are UTF-8, else base64.
"""

from __future__ import annotations

import base64
import hashlib
import json
from datetime import datetime
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import Aggregate

from domain.hashing import digest
from domain.ids import Namespace

NAMESPACE = Namespace(uuid5(NAMESPACE_URL, "https://towns.gd.gov.cn/inbound"))
EARLY_CODES = frozenset({"unknown_application", "invalid_transition", "precondition_failed"})
"""Refusals that may only mean the message arrived before its predecessor."""


def message_key(message_id: str | None, body: bytes) -> str:
    """What names a message: its id, or the hash of its body when it has none."""
    return message_id or "sha256:" + hashlib.sha256(body).hexdigest()


def body_digest(body: bytes) -> str:
    """What tells two bodies apart: "the same message" is the same envelope compared as parsed
    JSON (CONTRACT.md §2), so key order and white space do not count; other bytes count all."""
    try:
        return "json:" + digest(json.loads(body))
    except (ValueError, UnicodeError, RecursionError, TypeError):
        return "raw:" + hashlib.sha256(body).hexdigest()


def other_body_key(key: str, body: bytes) -> str:
    """The key of a message whose id (``key``) already names records of another body: two
    messages, each with records of its own."""
    return f"{key}\n{body_digest(body)}"


def encode_body(body: bytes) -> tuple[str, str]:
    """The body as stored and shown: (text, "utf-8") or (base64, "base64")."""
    try:
        return body.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        return base64.b64encode(body).decode("ascii"), "base64"


def decode_body(text: str, encoding: str) -> bytes:
    return base64.b64decode(text) if encoding == "base64" else text.encode("utf-8")


def dead_letter_id(key: str) -> UUID:
    return NAMESPACE.uuid5(f"dead\n{key}")


def parked_id(key: str) -> UUID:
    return NAMESPACE.uuid5(f"parked\n{key}")


class DeadLetter(Aggregate):
    TOPIC = "towns:DeadLetter"

    class Event(Aggregate.Event):
        TOPIC = "towns:DeadLetter.Event"

    class Recorded(Event, Aggregate.Created):
        TOPIC = "towns:DeadLetter.Recorded"
        key: str
        message_id: str | None
        code: str
        detail: str
        body: str
        body_encoding: str
        user_id: str | None
        routing_key: str
        first_seen: datetime
        properties: str | None = None
        """The message's AMQP properties and headers, as the adapter wrote them
        (``adapters.amqp.properties``); absent from the events recorded before it existed."""

        def apply(self, letter: DeadLetter) -> None:
            for name in ("key", "message_id", "code", "detail", "body", "body_encoding",
                         "user_id", "routing_key", "first_seen"):
                setattr(letter, name, getattr(self, name))
            letter.properties = self.__dict__.get("properties")
            letter.attempts = 1
            letter.open = True
            letter.dead_lettered_at = self.timestamp
            letter.requeues = []

    class DeadLetteredAgain(Event):
        TOPIC = "towns:DeadLetter.DeadLetteredAgain"
        code: str
        detail: str

        def apply(self, letter: DeadLetter) -> None:
            letter.code, letter.detail = self.code, self.detail
            letter.attempts += 1
            letter.open = True
            letter.dead_lettered_at = self.timestamp

    class Requeued(Event):
        """An operator re-drove the message into the inbound queue."""

        TOPIC = "towns:DeadLetter.Requeued"
        by: str

        def apply(self, letter: DeadLetter) -> None:
            letter.open = False
            letter.requeues = [*letter.requeues, {"by": self.by, "at": self.timestamp.isoformat()}]

    key: str
    message_id: str | None
    code: str
    detail: str
    attempts: int
    open: bool

    def __init__(self, **_: object) -> None:
        """State is set by the events' mutators."""

    @classmethod
    def record(cls, key: str, **fields: object) -> DeadLetter:
        return cls._create(cls.Recorded, id=dead_letter_id(key), key=key, **fields)

    def again(self, code: str, detail: str) -> bool:
        """Counts another dead-lettering; a repeat while still open (a redelivery) counts nothing."""
        if self.open:
            return False
        self.trigger_event(self.DeadLetteredAgain, code=code, detail=detail)
        return True

    def requeued(self, by: str) -> None:
        self.trigger_event(self.Requeued, by=by)


class ParkedMessage(Aggregate):
    TOPIC = "towns:ParkedMessage"

    class Event(Aggregate.Event):
        TOPIC = "towns:ParkedMessage.Event"

    class Parked(Event, Aggregate.Created):
        TOPIC = "towns:ParkedMessage.Parked"
        key: str
        application_id: str
        body: str
        body_encoding: str
        user_id: str | None
        routing_key: str
        first_seen: datetime
        code: str
        detail: str
        window_from: datetime | None = None
        """When its reorder window starts, if not at ``first_seen`` (a re-drive); absent from
        the events recorded before it existed."""
        message_id: str | None = None
        """The AMQP message_id; absent from the events recorded before it existed, whose key
        is the id itself (or ``sha256:`` and the body's hash for a message without one)."""
        properties: str | None = None
        """As ``DeadLetter.Recorded.properties``."""

        def apply(self, parked: ParkedMessage) -> None:
            for name in ("key", "application_id", "body", "body_encoding", "user_id",
                         "routing_key", "first_seen", "code", "detail"):
                setattr(parked, name, getattr(self, name))
            parked.properties = self.__dict__.get("properties")
            parked.window_from = getattr(self, "window_from", None) or self.first_seen
            if "message_id" in self.__dict__:
                parked.message_id = self.message_id
            else:
                parked.message_id = None if self.key.startswith("sha256:") else self.key
            parked.open = True
            parked.released_as = None

    class Reparked(Event):
        TOPIC = "towns:ParkedMessage.Reparked"
        first_seen: datetime
        code: str
        detail: str
        window_from: datetime | None = None

        def apply(self, parked: ParkedMessage) -> None:
            parked.first_seen, parked.code, parked.detail = self.first_seen, self.code, self.detail
            parked.window_from = getattr(self, "window_from", None) or self.first_seen
            parked.open = True
            parked.released_as = None

    class Released(Event):
        """Applied (or found a repeat) on a retry, or dead-lettered when its window passed."""

        TOPIC = "towns:ParkedMessage.Released"
        outcome: str
        code: str | None

        def apply(self, parked: ParkedMessage) -> None:
            parked.open = False
            parked.released_as = self.outcome
            if self.code:
                parked.code = self.code

    key: str
    application_id: str
    message_id: str | None
    first_seen: datetime
    window_from: datetime
    code: str
    detail: str
    open: bool

    def __init__(self, **_: object) -> None:
        """State is set by the events' mutators."""

    @classmethod
    def park(cls, key: str, **fields: object) -> ParkedMessage:
        return cls._create(cls.Parked, id=parked_id(key), key=key, **fields)

    def repark(
        self, first_seen: datetime, code: str, detail: str, window_from: datetime | None = None
    ) -> None:
        self.trigger_event(
            self.Reparked, first_seen=first_seen, code=code, detail=detail, window_from=window_from
        )

    def release(self, outcome: str, code: str | None = None) -> None:
        self.trigger_event(self.Released, outcome=outcome, code=code)
