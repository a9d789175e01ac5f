"""Parked messages as the service stores them (``domain.inbound``): parked, released, and what
happened to them in log order (part of ``adapters.store.inbound_records``)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from domain.inbound import ParkedMessage, encode_body, parked_id


@dataclass(frozen=True)
class ParkingChange:
    position: int
    parked_id: UUID
    application_id: str
    open: bool


class ParkedRecords:
    """Mixed into ``InboundRecords``, whose store it uses (``towns``, ``_get``, ``_retrying``)."""

    def park(
        self,
        key: str,
        message_id: str | None,
        application_id: UUID,
        body: bytes,
        user_id: str | None,
        routing_key: str,
        first_seen: datetime,
        code: str,
        detail: str,
        window_from: datetime | None = None,
        properties: str | None = None,
        headers_too_large: bool = False,
    ) -> ParkedMessage:
        """Parks a message; one parked already (a redelivery) stays as it is. Its reorder
        window starts at ``window_from`` (a re-drive), else at ``first_seen``. Its body is kept
        whole: a message is parked only once it was read and checked, so it is at most the
        contract's 256 KiB."""

        def change() -> tuple[ParkedMessage, ParkedMessage]:
            parked = self._get(parked_id(key))
            if parked is None:
                text, encoding = encode_body(body)
                parked = ParkedMessage.park(
                    key, message_id=message_id, application_id=str(application_id), body=text,
                    body_encoding=encoding,
                    user_id=user_id, routing_key=routing_key, first_seen=first_seen, code=code,
                    detail=detail, window_from=window_from, properties=properties,
                    headers_too_large=headers_too_large,
                )
            elif not parked.open:
                parked.repark(first_seen, code, detail, window_from)
            return parked, parked

        return self._retrying(change)

    def release(self, parked_id_: UUID, outcome: str, code: str | None = None) -> None:
        def change() -> tuple[ParkedMessage | None, None]:
            parked = self._get(parked_id_)
            if parked is not None and parked.open:
                parked.release(outcome, code)
            return parked, None

        self._retrying(change)

    def open_parked(self) -> list[ParkedMessage]:
        parked = [self._get(e.originator_id) for e in self._created(ParkedMessage.Parked.TOPIC)]
        return [p for p in parked if p.open]

    def parked(self, parked_id_: UUID) -> ParkedMessage | None:
        return self._get(parked_id_)

    def parking_events(self, after: int) -> list[ParkingChange]:
        """What happened to parked messages after log position ``after``, in log order."""
        topics = [ParkedMessage.Parked.TOPIC, ParkedMessage.Reparked.TOPIC,
                  ParkedMessage.Released.TOPIC]
        changes, apps = [], {}
        position = after
        while True:
            notes = self.towns.recorder.select_notifications(
                start=position, limit=1000, topics=topics, inclusive_of_start=False)
            if not notes:
                return changes
            for note in notes:
                event = self.towns.mapper.to_domain_event(note)
                key = event.originator_id
                if isinstance(event, ParkedMessage.Parked):
                    apps[key] = event.application_id
                app = apps.get(key) or self._get(key).application_id
                apps[key] = app
                opened = not isinstance(event, ParkedMessage.Released)
                changes.append(ParkingChange(note.id, key, app, opened))
            position = notes[-1].id

    def _created(self, topic: str):
        return self.towns.events_with_topics([topic])
