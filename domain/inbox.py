"""Inbox markers: the idempotency of inbound messages.

Each applied message leaves a marker, keyed by uuid5 of its ``message_id`` and saved in the same
transaction as the events it caused; a repeat finds it and changes nothing. A repeat with another
body is refused, and the body is kept on the marker as evidence.
"""

from __future__ import annotations

from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import Aggregate

from domain.ids import Namespace

NAMESPACE = Namespace(uuid5(NAMESPACE_URL, "https://towns.gd.gov.cn/inbox"))


def inbox_id(message_id: str) -> UUID:
    return NAMESPACE.uuid5(message_id)


class InboxMessage(Aggregate):
    TOPIC = "towns:InboxMessage"
    CACHED = False
    """Never kept in the service's aggregate cache: a repeat is caught by the marker's unique
    key, or read fresh, so a cached marker would only push applications out."""

    class Event(Aggregate.Event):
        TOPIC = "towns:InboxMessage.Event"

    class Applied(Event, Aggregate.Created):
        TOPIC = "towns:InboxMessage.Applied"
        message_id: str
        digest: str
        application_id: str
        principal: str

        def apply(self, marker: InboxMessage) -> None:
            marker.message_id = self.message_id
            marker.digest = self.digest
            marker.application_id = self.application_id
            marker.principal = self.principal
            marker.conflicts = 0

    class ConflictSeen(Event):
        """Another body under an applied message id: refused, kept as evidence."""

        TOPIC = "towns:InboxMessage.ConflictSeen"
        digest: str
        body: dict
        principal: str

        def apply(self, marker: InboxMessage) -> None:
            marker.conflicts += 1

    message_id: str
    digest: str
    application_id: str

    def __init__(self, **_: object) -> None:
        """State is set by the events' mutators."""

    @classmethod
    def applied(
        cls,
        message_id: str,
        digest: str,
        application_id: UUID,
        principal: str,
        marker_id: UUID | None = None,
    ) -> InboxMessage:
        """``marker_id``, when the caller has it already, is ``inbox_id(message_id)``.

        What the library's ``Aggregate._create`` makes (the same event, so the same stored
        bytes, and the same marker), without its generic steps: every applied message makes
        one, and those steps cost half of it."""
        marker_id = marker_id or inbox_id(message_id)
        timestamp = cls.Applied.create_timestamp()
        event = cls.Applied(
            originator_topic=cls.TOPIC,
            originator_id=marker_id,
            originator_version=cls.INITIAL_VERSION,
            timestamp=timestamp,
            message_id=message_id,
            digest=digest,
            application_id=str(application_id),
            principal=principal,
        )
        marker = cls.__new__(cls)
        marker.__base_init__(marker_id, cls.INITIAL_VERSION, timestamp)
        event.apply(marker)
        marker.pending_events.append(event)
        return marker

    def conflict_seen(self, digest: str, body: dict, principal: str) -> None:
        self.trigger_event(self.ConflictSeen, digest=digest, body=body, principal=principal)
