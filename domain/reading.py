"""Reading an application: now, as of a business time, as known at a record time, at a
version; its stored events and its hash chain. A collaborator of the application service
(``domain.service.Towns``), which delegates its reading methods here."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from eventsourcing.application import Repository
from eventsourcing.persistence import Mapper

from domain import deadline
from domain.applications import Application, application_id
from domain.calls import Call
from domain.check_log import CheckLog
from domain.decoding import StoredDecoder
from domain.errors import UnknownApplication
from domain.history import ChainBreak, first_break, fold, select
from domain.store import Store
from domain.work import Work


@dataclass(frozen=True)
class Replay:
    events: list[Application.Event]  # the whole history
    applied: list[Application.Event]  # those that count at the point asked for
    state: Application | None
    deadline: deadline.DeadlineOutcome | None
    chain_break: ChainBreak | None



def never_submitted(call_id: str, ref: str) -> UnknownApplication:
    """The refusal of a reading of an application that does not exist: also the answer for one
    outside the reader's reach (CONTRACT.md §3), which must not be told apart from it."""
    return UnknownApplication(
        f"application {ref!r} has never been submitted to {call_id}",
        {"application_ref": ref, "call_id": call_id},
    )


class Reader:
    """Reads applications from ``store`` (decoded by ``mapper``) and ``repository``; ``call``
    finds a call by its id, ``check_log`` says when a call's deadline check ran."""

    def __init__(
        self,
        call: Callable[[str], Call],
        store: Store,
        mapper: Mapper,
        repository: Repository,
        check_log: CheckLog,
    ) -> None:
        self.call = call
        self.store = store
        self.mapper = mapper
        self.repository = repository
        self.check_log = check_log
        self.decoder = StoredDecoder(mapper)

    def application_ids(self, call_id: str, after: int = 0) -> Iterator[UUID]:
        """The ids of the call's applications, in the order they were first recorded (those
        first recorded after log position ``after``)."""
        for event in self.events_with_topics([Application.Submitted.TOPIC], after):
            if event.data["call_id"] == call_id:
                yield event.originator_id

    def events_with_topics(self, topics: Sequence[str], start: int = 0) -> Iterator[Any]:
        """Every recorded event of these topics after notification ``start``, in log order."""
        position = start
        while True:
            batch = self.store.select_notifications(
                start=position, limit=1000, topics=topics, inclusive_of_start=False
            )
            if not batch:
                return
            for notification in batch:
                yield self.mapper.to_domain_event(notification)
            position = batch[-1].id

    def application(self, call_id: str, ref: str) -> Application | None:
        return self.application_by_id(application_id(call_id, ref))

    def application_by_id(self, app_id: UUID) -> Application | None:
        return Work(self.repository).get(app_id)

    def deadline_outcome(
        self, app: Application, known_at: datetime | None = None, as_of: datetime | None = None
    ) -> deadline.DeadlineOutcome:
        """The outcome now, or at a point: the check counts once it had run as the service knew
        it (``known_at``, record time) and, as of a business time, once that time had reached
        the check's (cutoff + grace, when its lapses are dated)."""
        call = self.call(app.call_id)
        if as_of is not None and as_of < call.check_due_at:
            checked_at = None  # not yet due then: whether it has run since does not count
        else:
            checked_at = self.check_log.checked_at(call)
        if checked_at is not None and known_at is not None and checked_at > known_at:
            checked_at = None
        before = self._closed_before_check(app, call) if checked_at is not None else None
        if before is not None:
            return deadline.outcome(app.status, app.lapse, app.reinstated, before, True)
        return deadline.outcome_of(app, checked_at)

    def _closed_before_check(self, app: Application, call: Call) -> bool | None:
        """Whether the close came before the check in the log, as the check saw it (and the
        read models fold it): a close created before the check but committed after it was not
        seen by it. None where the store cannot tell (then the record times decide)."""
        closed_version = getattr(app, "closed_version", None)  # None in snapshots before it
        if closed_version is None:
            return None
        closed = self.store.position_of(app.id, closed_version)
        ran = self.store.position_of(deadline.deadline_check_id(call.id, call.cutoff), 1)
        return None if closed is None or ran is None else closed < ran

    def replay(
        self,
        call_id: str,
        ref: str,
        as_of: datetime | None = None,
        known_at: datetime | None = None,
        version: int | None = None,
    ) -> Replay:
        """The history and the state at a point: business time, record time or version."""
        self.call(call_id)
        stored, computed = self._decoded(self.store.select_events(application_id(call_id, ref)))
        if not stored:
            raise never_submitted(call_id, ref)
        chain_break = first_break(stored, computed)
        events = [e for e in stored if not isinstance(e, Exception)]
        applied = select(events, as_of, known_at, version)
        state = fold(applied)
        recorded = next((e.timestamp for e in events if e.originator_version == version), None)
        if recorded is not None:  # at a version: what the service knew once it was recorded
            known_at = recorded if known_at is None else min(known_at, recorded)
        outcome = self.deadline_outcome(state, known_at, as_of) if state is not None else None
        return Replay(events, applied, state, outcome, chain_break)

    def verify_application(self, call_id: str, ref: str) -> ChainBreak | None:
        return first_break(*self._decoded(self.store.select_events(application_id(call_id, ref))))

    def _decoded(self, records: Sequence[Any]) -> tuple[list[Any], list[str | None]]:
        """``decode_stored`` of each record, and what each event's ``computed_hash()`` gives
        where that is plainly computed from its stored text as it is decoded (else None)."""
        stored: list[Any] = []
        computed: list[str | None] = []
        for record in records:
            found = self.decoder.plain_hashed(record)
            if found is None:
                stored.append(self._decode_full(record))
                computed.append(None)
            else:
                stored.append(found[0])
                computed.append(found[1])
        return stored, computed

    def stored_events(self, aggregate_id: UUID) -> list[Application.Event | Exception]:
        """Every stored event, decoded; a record that cannot be decoded stands as its error."""
        return [self.decode_stored(record) for record in self.store.select_events(aggregate_id)]

    def decode_stored(self, record: Any) -> Any:
        """One stored record (an event or a notification) decoded, or the error that says why
        it cannot be: encoding the event again must give back exactly the stored bytes (in
        the version of its class that stored them, for an event upcast since)."""
        event = self.decoder.plain(record)
        return event if event is not None else self._decode_full(record)

    def _decode_full(self, record: Any) -> Any:
        """``decode_stored`` by the mapper: decoded, then encoded again and compared."""
        try:
            event = self.mapper.to_domain_event(record)
            # Decoding forgives some bytes (a date's separator, an offset's sign).
            if self.mapper.to_stored_event(event).state != record.state and not (
                    getattr(type(event), "class_version", 1) > 1 and self._own_encoding(record)):
                raise ValueError("the stored bytes are not the event's own encoding")
            return event
        except Exception as error:  # noqa: BLE001 - any changed byte is a break
            return error

    def _own_encoding(self, record: Any) -> bool:
        """Whether the record's bytes are the encoding of what they decode to, as stored (an
        upcast event encodes in its class's newer version, so its encoding cannot be compared)."""
        mapper = self.mapper
        if mapper.cipher is not None or mapper.compressor is not None:
            return False
        transcoder = mapper.transcoder
        return transcoder.encode(transcoder.decode(record.state)) == record.state

    def read_many(self, ids: Sequence[UUID],
                  records: Sequence[Any] | None = None) -> dict[UUID, Application | None]:
        """The aggregates ``ids`` names (None: does not exist), from one read of all their
        events (``records``: that read, made already). Each is folded from its first event;
        snapshots only save work on a single read."""
        histories: dict[UUID, list] = {app_id: [] for app_id in ids}
        if records is None:
            records = self.store.select_events_of(list(ids))
        for stored in records:
            histories[stored.originator_id].append(stored)
        decode = self.decoder.event
        folded: dict[UUID, Application | None] = {}
        for app_id, history in histories.items():
            aggregate = None
            for stored in history:
                aggregate = decode(stored).mutate(aggregate)
            folded[app_id] = aggregate
        return folded
