"""What the consumer does with deliveries, apart from the broker: apply them in one group
commit, park the possibly-early ones, and say which must be dead-lettered.

Nothing here touches a channel, so it runs in a worker thread while the connection's thread
keeps the heartbeats, and unit tests can drive it with plain ``Delivery`` values.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta, timezone
from typing import Any
from uuid import UUID

from eventsourcing.persistence import PersistenceError

from adapters.amqp import properties
from adapters.amqp import topology as t
from adapters.config import Config
from adapters.inbound_records import Dispatch, InboundRecords
from adapters.ingest import ingest, ingest_prepared, prepared
from adapters.ops import metrics
from domain.applications import application_id
from domain.commands import Command, Outcome
from domain.errors import DomainError, bounded_text
from domain.inbound import EARLY_CODES, SENDS, ParkedMessage, Send, dead_letter_id, decode_body
from domain.principals import Principal
from domain.service import Towns

log = logging.getLogger("towns.consume")
INTERNAL_ERROR = "internal_error"


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


@dataclass(frozen=True)
class Delivery:
    body: bytes
    message_id: str | None = None
    user_id: str | None = None
    routing_key: str = ""
    headers: dict = field(default_factory=dict)
    content_type: str | None = None
    delivery_tag: int = 0
    received_at: float = 0.0
    prepared: Command | DomainError | None = None
    """What the ingest path made of it before deciding (``Inbound.prepare``), if done already."""
    amqp: Any = None
    """pika's ``BasicProperties`` of the delivery: what its dead letter keeps (``properties``)."""

    def kept(self) -> tuple[dict, bool]:
        """What its letter keeps of its properties, and whether the publisher's headers were
        left off, too large to send again (``properties.letter_kept``)."""
        return properties.letter_kept(self.amqp, self.content_type, self.headers)


@dataclass(frozen=True)
class DeadLetterOut:
    """A dead letter to publish: the original body, id and properties (``kept``), the reason
    in the service's headers (``headers``); ``send`` says which send of its record's copy it
    is, and whether bare (without the publisher's headers)."""

    body: bytes
    message_id: str | None
    routing_key: str
    kept: dict
    headers: dict
    parked_id: UUID | None = None  # the parked message it ends, released once the broker confirms
    letter_id: UUID | None = None
    send: Send | None = None
    record: Any = field(default=None, compare=False, repr=False)
    """The record (``DeadLetter``) as this process last saved it: spares a read when the
    broker's confirmation is recorded."""

    def properties(self) -> Any:
        bare = self.send is not None and self.send.bare
        kept = properties.without_headers(self.kept) if bare else self.kept
        return properties.letter_properties(self.message_id, kept, self.headers)


class Inbound:
    def __init__(
        self,
        towns: Towns,
        config: Config,
        records: InboundRecords,
        reorder_window: float = 600,
        service_user: str | None = None,
    ) -> None:
        self.towns = towns
        self.config = config
        self.records = records
        self.window = timedelta(seconds=reorder_window)
        self.service_user = service_user
        self.parked: dict[UUID, list[ParkedMessage]] = {}
        self.unsent: dict[UUID, DeadLetterOut] = {}
        """Parked messages dead-lettered but not yet confirmed by the broker. They were
        acknowledged when parked, so their records stay open until ``sent``: a lost connection
        sends them again on the next one, a crash dead-letters them again on restart."""
        self.applied = 0
        self._parked_seen = 0  # log position up to which parking records were read
        self.refresh()

    def refresh(self) -> None:
        """Reads the parking records written since the last look, by this process or another
        (a hot standby becomes active with an up-to-date list)."""
        for event in self.records.parking_events(self._parked_seen):
            self._parked_seen = max(self._parked_seen, event.position)
            app_id, key = UUID(event.application_id), event.parked_id
            waiting = [p for p in self.parked.get(app_id, []) if p.id != key]
            current = self.records.parked(key) if event.open else None
            if current is not None and current.open:
                waiting.append(current)
                waiting.sort(key=lambda p: p.first_seen)
            if waiting:
                self.parked[app_id] = waiting
            else:
                self.parked.pop(app_id, None)

    @property
    def parked_count(self) -> int:
        return sum(len(v) for v in self.parked.values())

    # -- deliveries --------------------------------------------------------------------------

    def apply(
        self, deliveries: Sequence[Delivery], saving: Callable[[], object] | None = None
    ) -> list[DeadLetterOut]:
        """Applies the deliveries in order, in one transaction where possible; ``saving`` is
        called as that transaction's save begins (``Towns.handle_many``)."""
        principals = [self.principal(d) for d in deliveries]
        try:
            results = ingest_prepared(self.towns, [
                (d.body, p, d.prepared if d.prepared is not None else prepared(d.body, p))
                for d, p in zip(deliveries, principals)
            ], saving)
        except PersistenceError:
            raise  # the store is unwell: nothing is acknowledged, the broker redelivers
        except Exception:  # noqa: BLE001 - find the one message that fails alone
            log.exception("a batch failed unexpectedly; applying its messages one at a time")
            results = [self._alone(d.body, p) for d, p in zip(deliveries, principals)]
        out: list[DeadLetterOut] = []
        changed: list[UUID] = []
        seen: set[UUID] = set()  # letters of this batch: a message twice in it is sent once
        for delivery, result in zip(deliveries, results):
            if isinstance(result, Outcome):
                self.applied += not result.duplicate
                if not result.duplicate:
                    changed.append(application_id(result.call_id, result.application_ref))
            elif result.code in EARLY_CODES:
                self._park(delivery, result)
            elif (letter := self._dead(delivery, result, seen)) is not None:
                out.append(letter)
        out.extend(self.retry(changed))
        return out

    def prepare(self, delivery: Delivery) -> Delivery:
        """The delivery with what the ingest path makes of it before deciding (parsed and
        checked, or refused), so that this can be done while the batch before it is saved. An
        unexpected failure is left for ``apply`` to meet, as if not prepared."""
        try:
            return replace(delivery, prepared=prepared(delivery.body, self.principal(delivery)))
        except Exception:  # noqa: BLE001 - apply prepares it again and handles the failure
            return delivery

    def principal(self, delivery: Delivery) -> Principal | None:
        """The AMQP ``user_id`` (checked by RabbitMQ) names the principal; a re-drive by the
        service's own user carries the original in ``x-towns-user-id``."""
        user = self._original_user(delivery)
        return self.config.by_amqp_user(user) if user else None

    def _redriven(self, delivery: Delivery) -> bool:
        """Sent by the service's own user: only then are the x-towns-* headers believed."""
        return bool(self.service_user) and delivery.user_id == self.service_user

    def _header(self, delivery: Delivery, name: str) -> str | None:
        value = delivery.headers.get(name) if self._redriven(delivery) else None
        return value if isinstance(value, str) and value else None

    def _alone(self, body: bytes, principal: Principal | None) -> Outcome | DomainError:
        try:
            return ingest(self.towns, body, principal)
        except DomainError as error:
            return error
        except PersistenceError:
            raise
        except Exception as error:  # noqa: BLE001 - a poison message must not block the queue
            log.exception("a message failed alone; dead-lettering it")
            return _Internal(f"the service failed on this message: {type(error).__name__}")

    def _first_seen(self, delivery: Delivery) -> datetime:
        seen = self._header(delivery, t.FIRST_SEEN)
        try:
            first = datetime.fromisoformat(seen) if seen else None
        except (TypeError, ValueError):
            first = None
        # A time without an offset cannot be compared with now: it would stop every sweep.
        return first if first is not None and first.utcoffset() is not None else utcnow()

    def _window_from(self, delivery: Delivery, first_seen: datetime) -> datetime:
        """When the reorder window starts: at first sight, or at a re-drive if one came later
        (an operator re-drives a message to give it another chance, not an expired one)."""
        requeued = self._header(delivery, t.REQUEUED_AT)
        try:
            at = datetime.fromisoformat(requeued) if requeued else None
        except ValueError:
            at = None
        if at is None or at.utcoffset() is None:
            return first_seen
        return max(first_seen, at)

    def _original_user(self, delivery: Delivery) -> str | None:
        """The sender: a re-drive names the original in ``x-towns-user-id``, or none when the
        original had none; anything else is its own ``user_id``."""
        if self._header(delivery, t.REQUEUED_AT) is not None:
            return self._header(delivery, t.USER_ID)
        if t.REQUEUED_AT in delivery.headers:
            return None  # a re-drive by another user than this consumer's: no sender is believed
        return self._header(delivery, t.USER_ID) or delivery.user_id

    def _routing_key(self, delivery: Delivery) -> str:
        return self._header(delivery, t.ROUTING_KEY) or delivery.routing_key

    def _dead(self, delivery: Delivery, error: DomainError, seen: set[UUID]) -> DeadLetterOut | None:
        """Records the dead-lettering; the letter to send, if one is owed (``Dispatch``)."""
        key = self.records.key_of(delivery.message_id, delivery.body)
        if dead_letter_id(key) in seen:
            return None
        seen.add(dead_letter_id(key))
        kept, too_large = delivery.kept()
        dispatch = self.records.dead_letter(
            key, delivery.message_id, error.code, bounded(error.message), delivery.body,
            self._original_user(delivery), self._routing_key(delivery),
            self._first_seen(delivery), properties.encode(kept), too_large,
        )
        return self._out(dispatch, delivery.body, kept)

    def _out(self, dispatch: Dispatch, body: bytes, kept: dict,
             parked_id: UUID | None = None) -> DeadLetterOut | None:
        """The letter a dispatch calls for, as recorded (code, detail, first sight: those of
        the dead-lettering, also when a redelivery sends it again); None when none is owed."""
        letter, send = dispatch.letter, dispatch.send
        if dispatch.gave_up:
            metrics.dead_letter_given_up()
            log.error("the dead letter %s (message_id %r) was not confirmed by the broker in %d "
                      "sends (%s): it is recorded only, not on %s; re-drive it with "
                      "`towns dead-letters requeue --id %s`", letter.id, letter.message_id,
                      SENDS, letter.publish_error, t.DEAD_QUEUE, letter.id)
        if send is None:
            return None
        headers = {
            t.ERROR: letter.code,
            t.DETAIL: bounded(letter.detail),
            t.ROUTING_KEY: letter.routing_key,
            t.FIRST_SEEN: letter.first_seen.isoformat(),
        }
        if letter.user_id:
            headers[t.USER_ID] = letter.user_id
        if send.bare:
            headers[t.HEADERS_DROPPED] = True
        return DeadLetterOut(body, letter.message_id, letter.routing_key, kept, headers,
                             parked_id, letter.id, send, letter)

    # -- parking -----------------------------------------------------------------------------

    def _park(self, delivery: Delivery, error: DomainError) -> None:
        envelope = json.loads(delivery.body)
        app_id = application_id(envelope["call_id"], envelope["application_ref"])
        first_seen = self._first_seen(delivery)
        kept, too_large = delivery.kept()
        parked = self.records.park(
            self.records.key_of(delivery.message_id, delivery.body), delivery.message_id, app_id,
            delivery.body,
            self._original_user(delivery), self._routing_key(delivery),
            first_seen, error.code, bounded(error.message), self._window_from(delivery, first_seen),
            properties.encode(kept), too_large,
        )
        waiting = self.parked.setdefault(app_id, [])
        if all(p.id != parked.id for p in waiting):
            waiting.append(parked)

    def retry(self, changed: Sequence[UUID]) -> list[DeadLetterOut]:
        """Retries the messages parked on applications that changed, until nothing moves."""
        out: list[DeadLetterOut] = []
        queue = [a for a in dict.fromkeys(changed) if a in self.parked]
        while queue:
            app_id = queue.pop(0)
            for parked in list(self.parked.get(app_id, [])):
                result = self._try(parked)
                if isinstance(result, Outcome):
                    self._release(app_id, parked, "duplicate" if result.duplicate else "applied")
                    if not result.duplicate:
                        self.applied += 1
                        queue.append(app_id)
                        break
                elif result.code not in EARLY_CODES:
                    out.extend(self._dead_parked(app_id, parked, result))
        return out

    def expire(self, now: datetime | None = None) -> list[DeadLetterOut]:
        """Dead-letters parked messages whose window has passed, after one last try."""
        now = now or utcnow()
        self.refresh()
        out = self.retry(list(self.parked))
        for app_id, waiting in list(self.parked.items()):
            for parked in list(waiting):
                if parked.window_from + self.window <= now:
                    result = self._try(parked)
                    if isinstance(result, Outcome):
                        self._release(app_id, parked, "duplicate" if result.duplicate else "applied")
                    else:
                        out.extend(self._dead_parked(app_id, parked, result))
        return out

    def _try(self, parked: ParkedMessage) -> Outcome | DomainError:
        principal = self.config.by_amqp_user(parked.user_id) if parked.user_id else None
        return self._alone(decode_body(parked.body, parked.body_encoding), principal)

    def _release(self, app_id: UUID, parked: ParkedMessage, outcome: str, code: str | None = None) -> None:
        self.records.release(parked.id, outcome, code)
        self._forget(app_id, parked)

    def _forget(self, app_id: UUID, parked: ParkedMessage) -> None:
        waiting = self.parked.get(app_id, [])
        waiting[:] = [p for p in waiting if p.id != parked.id]
        if not waiting:
            self.parked.pop(app_id, None)

    def _dead_parked(self, app_id: UUID, parked: ParkedMessage, error: DomainError) -> list[DeadLetterOut]:
        """The letter of a parked message refused for good: owed (``unsent``) until the broker
        confirms it (``sent``), when the parked record is released."""
        body = decode_body(parked.body, parked.body_encoding)
        dispatch = self.records.dead_letter(
            parked.key, parked.message_id, error.code, bounded(error.message), body,
            parked.user_id, parked.routing_key, parked.first_seen, parked.properties,
            parked.headers_too_large)
        self._forget(app_id, parked)
        return self._owe(parked.id, self._out(dispatch, body, properties.decode(parked.properties),
                                              parked.id), dispatch.letter.code)

    def _owe(self, parked: UUID, letter: DeadLetterOut | None, code: str) -> list[DeadLetterOut]:
        if letter is None:  # its copy is on the queue already, or was given up: nothing owed
            self.unsent.pop(parked, None)
            self.records.release(parked, "dead_lettered", code)
            return []
        self.unsent[parked] = letter
        return [letter]

    # -- what the broker made of the letters --------------------------------------------------

    def sent(self, letters: Sequence[DeadLetterOut]) -> None:
        """The broker confirmed these letters: recorded in one write, with the parked
        messages behind them released."""
        released = [(x.parked_id, x.headers[t.ERROR]) for x in letters
                    if x.parked_id is not None and x.parked_id in self.unsent]
        self.records.sent([(x.letter_id, x.send) for x in letters if x.send is not None],
                          released,
                          {x.letter_id: x.record for x in letters if x.record is not None})
        for parked, _ in released:
            self.unsent.pop(parked, None)

    def not_sent(self, failures: Sequence[tuple[DeadLetterOut, str]]) -> None:
        """The broker did not confirm these letters (letter, reason): recorded on each, so that
        the next send of it, on this connection or after a redelivery, is another."""
        self.records.not_sent([(x.letter_id, x.send, bounded(reason))
                               for x, reason in failures if x.send is not None])

    def resend(self, letters: Sequence[DeadLetterOut]) -> list[DeadLetterOut]:
        """The next send of each letter not confirmed (``DeadLetter.resend``): bare the last
        time, none after that."""
        out: list[DeadLetterOut] = []
        for letter in letters:
            dispatch = self.records.resend(letter.letter_id)
            again = self._out(dispatch, letter.body, letter.kept, letter.parked_id)
            if letter.parked_id is not None:
                out.extend(self._owe(letter.parked_id, again, dispatch.letter.code))
            elif again is not None:
                out.append(again)
        return out

    def owed(self) -> list[DeadLetterOut]:
        """The letters of parked messages that the last connection did not deliver."""
        return self.resend(list(self.unsent.values()))


class _Internal(DomainError):
    code = INTERNAL_ERROR


def bounded(detail: str) -> str:
    """A detail as a letter carries it: at most ``DETAIL_LIMIT`` characters (an echoed field
    can be as long as the message)."""
    return bounded_text(detail, t.DETAIL_LIMIT)
