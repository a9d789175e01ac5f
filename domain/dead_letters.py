"""``DeadLetter``: an inbound message refused for good, with its reason and what became of its
copy for the broker (``Send``, up to ``SENDS`` sends). See ``domain.inbound``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from eventsourcing.domain import Aggregate

from domain.inbound_messages import dead_letter_id, decode_body

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
