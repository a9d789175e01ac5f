"""``ParkedMessage``: an inbound message refused as possibly early, waiting for its application
to change until its reorder window has passed. See ``domain.inbound``.
"""

from __future__ import annotations

from datetime import datetime

from eventsourcing.domain import Aggregate

from domain.inbound_messages import parked_id


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
