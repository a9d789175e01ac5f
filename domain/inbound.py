"""The service's own records of inbound messages it could not apply at once.

A *dead letter* is a message refused for good: it never expires and stays listed with its reason,
whatever happens to the broker's queue. A *parked* message was refused as possibly early
(``unknown_application``, ``invalid_transition``, ``precondition_failed``): it waits for its
application to change, and becomes a dead letter when its reorder window has passed.

Bodies are kept exactly: as text when they are UTF-8, else base64. A dead letter's body larger
than any message the contract accepts (256 KiB) is kept as its length and SHA-256 only: such a
message is refused as malformed (or before that), and its copy on the broker's dead-letter queue
stays whole. A parked message is never that large: it was read and checked before it was refused.

A dead letter also records what became of its copy for the broker (``Send``): confirmed
(``published``), or not confirmed after ``SENDS`` sends and given up (recorded only).
"""

from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import dataclass
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


STORED_BODY_LIMIT = 256 * 1024
"""The largest body a dead letter keeps whole: the contract's limit for a message."""


@dataclass(frozen=True)
class StoredBody:
    """A dead letter's body as recorded: ``text`` in ``encoding`` (``encode_body``), or None
    for a body over ``STORED_BODY_LIMIT``; its length and SHA-256 always."""

    text: str | None
    encoding: str | None
    length: int
    sha256: str


def stored_body(body: bytes) -> StoredBody:
    sha256 = hashlib.sha256(body).hexdigest()
    if len(body) > STORED_BODY_LIMIT:
        return StoredBody(None, None, len(body), sha256)
    text, encoding = encode_body(body)
    return StoredBody(text, encoding, len(body), sha256)


def encode_body(body: bytes) -> tuple[str, str]:
    """The body as stored and shown: (text, "utf-8") or (base64, "base64")."""
    try:
        return body.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        return base64.b64encode(body).decode("ascii"), "base64"


def decode_body(text: str, encoding: str) -> bytes:
    return base64.b64decode(text) if encoding == "base64" else text.encode("utf-8")


SENDS = 2
"""How often one dead-lettering is sent to the broker without confirmation before it is given
up: first whole, then bare (without the publisher's headers, the only part of a letter that is not
bounded), then no more: recorded only, for an operator to re-drive from the record."""


@dataclass(frozen=True)
class Send:
    """One send of a dead letter's copy to the broker."""

    attempt: int
    """The dead-lettering it is a copy of (the letter's ``attempts`` when it was decided)."""
    number: int
    """1 for the first send of that dead-lettering, up to ``SENDS``."""
    bare: bool
    """Without the publisher's headers."""


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
        body: str | None
        body_encoding: str | None
        user_id: str | None
        routing_key: str
        first_seen: datetime
        properties: str | None = None
        """The message's AMQP properties and headers, as the adapter wrote them
        (``adapters.amqp.properties``); absent from the events recorded before it existed."""
        body_length: int | None = None
        body_sha256: str | None = None
        """Of the body as received; with ``body`` None when it was too large to keep
        (``stored_body``). Absent from the events recorded before they existed."""
        headers_too_large: bool = False
        """The publisher's headers were too large to keep (``properties`` has none)."""

        def apply(self, letter: DeadLetter) -> None:
            for name in ("key", "message_id", "code", "detail", "body", "body_encoding",
                         "user_id", "routing_key", "first_seen"):
                setattr(letter, name, getattr(self, name))
            for name in ("properties", "body_length", "body_sha256"):
                setattr(letter, name, self.__dict__.get(name))
            letter.headers_too_large = self.__dict__.get("headers_too_large", False)
            letter.attempts = 1
            letter.open = True
            letter.dead_lettered_at = self.timestamp
            letter.requeues = []
            letter._new_copy()

    class DeadLetteredAgain(Event):
        TOPIC = "towns:DeadLetter.DeadLetteredAgain"
        code: str
        detail: str

        def apply(self, letter: DeadLetter) -> None:
            letter.code, letter.detail = self.code, self.detail
            letter.attempts += 1
            letter.open = True
            letter.dead_lettered_at = self.timestamp
            letter._new_copy()

    class Requeued(Event):
        """An operator re-drove the message into the inbound queue."""

        TOPIC = "towns:DeadLetter.Requeued"
        by: str

        def apply(self, letter: DeadLetter) -> None:
            letter.open = False
            letter.requeues = [*letter.requeues, {"by": self.by, "at": self.timestamp.isoformat()}]

    class Resending(Event):
        """The copy of dead-lettering ``attempt`` was not confirmed (a redelivery found it
        open): it is sent again, as send ``number``. Recorded before the send."""

        TOPIC = "towns:DeadLetter.Resending"
        attempt: int
        number: int
        bare: bool

        def apply(self, letter: DeadLetter) -> None:
            if self.attempt == letter.attempts:
                letter.sends = max(letter.sends, self.number)
                letter.headers_dropped = letter.headers_dropped or self.bare

    class SendFailed(Event):
        """The broker did not confirm send ``number``: it refused it (nack, returned) or
        closed the channel or connection as it was sent. Recorded after the send."""

        TOPIC = "towns:DeadLetter.SendFailed"
        attempt: int
        number: int
        reason: str

        def apply(self, letter: DeadLetter) -> None:
            if self.attempt == letter.attempts:
                letter.sends = max(letter.sends, self.number)
                letter.publish_error = self.reason

    class Published(Event):
        """The broker confirmed the copy of dead-lettering ``attempt``."""

        TOPIC = "towns:DeadLetter.Published"
        attempt: int

        def apply(self, letter: DeadLetter) -> None:
            if self.attempt == letter.attempts:
                letter.published = True

    class GaveUp(Event):
        """The copy of dead-lettering ``attempt`` was never confirmed in ``SENDS`` sends: it is
        not on the dead-letter queue, only here."""

        TOPIC = "towns:DeadLetter.GaveUp"
        attempt: int
        reason: str

        def apply(self, letter: DeadLetter) -> None:
            if self.attempt == letter.attempts:
                letter.published = False
                letter.publish_error = self.reason

    key: str
    message_id: str | None
    code: str
    detail: str
    attempts: int
    open: bool
    published: bool | None
    """Of the current dead-lettering's copy: True once confirmed by the broker, False when
    given up, None until either (and for the letters recorded before this was kept)."""
    sends: int
    """Sends of the current copy known not to be confirmed (recorded before or after)."""
    publish_error: str | None
    headers_dropped: bool
    """The current copy goes without the publisher's headers."""

    def __init__(self, **_: object) -> None:
        """State is set by the events' mutators."""

    @classmethod
    def record(cls, key: str, **fields: object) -> DeadLetter:
        return cls._create(cls.Recorded, id=dead_letter_id(key), key=key, **fields)

    def _new_copy(self) -> None:
        """A dead-lettering begins: its copy is not sent yet."""
        self.published, self.sends, self.publish_error = None, 0, None
        self.headers_dropped = self.headers_too_large

    def again(self, code: str, detail: str) -> bool:
        """Counts another dead-lettering; a repeat while still open (a redelivery) counts nothing."""
        if self.open:
            return False
        self.trigger_event(self.DeadLetteredAgain, code=code, detail=detail)
        return True

    def requeued(self, by: str) -> None:
        self.trigger_event(self.Requeued, by=by)

    # -- its copy for the broker ------------------------------------------------------------

    def first_send(self) -> Send:
        """The first send of a dead-lettering just recorded; not recorded itself (the
        dead-lettering stands for it), so that the usual path writes nothing more."""
        return Send(self.attempts, 1, self.headers_dropped)

    def resend(self) -> Send | None:
        """What a repeat of the open letter's message calls for (a redelivery, or a copy owed
        since a lost connection): nothing when its copy was confirmed or given up; else the
        next send, recorded before it is made, so that a copy that takes the connection down
        is never sent the same way twice: the last one bare, and none after ``SENDS``."""
        if self.published is not None:
            return None
        if self.sends >= SENDS:
            reason = self.publish_error or f"not confirmed by the broker in {SENDS} sends"
            self.trigger_event(self.GaveUp, attempt=self.attempts, reason=reason)
            return None
        number = self.sends + 1
        bare = self.headers_dropped or number == SENDS
        self.trigger_event(self.Resending, attempt=self.attempts, number=number, bare=bare)
        return Send(self.attempts, number, bare)

    def sent(self, send: Send) -> bool:
        """The broker confirmed ``send``; whether that changed anything."""
        if send.attempt != self.attempts or self.published:
            return False
        self.trigger_event(self.Published, attempt=send.attempt)
        return True

    def not_sent(self, send: Send, reason: str) -> None:
        """The broker did not confirm ``send``, for ``reason``."""
        if send.attempt == self.attempts and self.published is None:
            self.trigger_event(self.SendFailed, attempt=send.attempt, number=send.number,
                               reason=reason)

    def body_bytes(self) -> bytes | None:
        """The body as received; None when it was too large to keep."""
        return None if self.body is None else decode_body(self.body, self.body_encoding)


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
        headers_too_large: bool = False
        """As ``DeadLetter.Recorded.headers_too_large``."""

        def apply(self, parked: ParkedMessage) -> None:
            for name in ("key", "application_id", "body", "body_encoding", "user_id",
                         "routing_key", "first_seen", "code", "detail"):
                setattr(parked, name, getattr(self, name))
            parked.properties = self.__dict__.get("properties")
            parked.headers_too_large = self.__dict__.get("headers_too_large", False)
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
