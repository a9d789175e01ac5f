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
from adapters.inbound_records import InboundRecords
from adapters.ingest import ingest, ingest_prepared, prepared
from domain.applications import application_id
from domain.commands import Command, Outcome
from domain.errors import DomainError
from domain.inbound import EARLY_CODES, ParkedMessage, decode_body
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

    def kept(self) -> dict:
        return properties.kept_of(self.amqp, self.content_type, self.headers)


@dataclass(frozen=True)
class DeadLetterOut:
    """A dead letter to publish: the original body, id and properties (``kept``), the reason
    in the service's headers (``headers``)."""

    body: bytes
    message_id: str | None
    routing_key: str
    kept: dict
    headers: dict
    parked_id: UUID | None = None  # the parked message it ends, released once the broker confirms

    def properties(self) -> Any:
        return properties.letter_properties(self.message_id, self.kept, self.headers)


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
        for delivery, result in zip(deliveries, results):
            if isinstance(result, Outcome):
                self.applied += not result.duplicate
                if not result.duplicate:
                    changed.append(application_id(result.call_id, result.application_ref))
            elif result.code in EARLY_CODES:
                self._park(delivery, result)
            else:
                out.append(self._dead(delivery, result))
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

    def _dead(self, delivery: Delivery, error: DomainError) -> DeadLetterOut:
        first_seen = self._first_seen(delivery)
        kept = delivery.kept()
        self.records.dead_letter(
            self.records.key_of(delivery.message_id, delivery.body), delivery.message_id, error.code,
            error.message, delivery.body, self._original_user(delivery),
            self._routing_key(delivery), first_seen, properties.encode(kept),
        )
        return _letter(delivery.body, delivery.message_id, self._routing_key(delivery), kept,
                       error.code, error.message, self._original_user(delivery), first_seen)

    # -- parking -----------------------------------------------------------------------------

    def _park(self, delivery: Delivery, error: DomainError) -> None:
        envelope = json.loads(delivery.body)
        app_id = application_id(envelope["call_id"], envelope["application_ref"])
        first_seen = self._first_seen(delivery)
        parked = self.records.park(
            self.records.key_of(delivery.message_id, delivery.body), delivery.message_id, app_id,
            delivery.body,
            self._original_user(delivery), self._routing_key(delivery),
            first_seen, error.code, error.message, self._window_from(delivery, first_seen),
            properties.encode(delivery.kept()),
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
                    out.append(self._dead_parked(app_id, parked, result))
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
                        out.append(self._dead_parked(app_id, parked, result))
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

    def _dead_parked(self, app_id: UUID, parked: ParkedMessage, error: DomainError) -> DeadLetterOut:
        body = decode_body(parked.body, parked.body_encoding)
        message_id = parked.message_id
        kept = properties.decode(parked.properties)
        self.records.dead_letter(parked.key, message_id, error.code, error.message, body,
                                 parked.user_id, parked.routing_key, parked.first_seen,
                                 parked.properties)
        self._forget(app_id, parked)  # released in the records once the broker has it: ``sent``
        letter = _letter(body, message_id, parked.routing_key, kept, error.code,
                         error.message, parked.user_id, parked.first_seen, parked.id)
        self.unsent[parked.id] = letter
        return letter

    def sent(self, letters: Sequence[DeadLetterOut]) -> None:
        """The broker confirmed these dead letters: the parked messages behind them are released."""
        for letter in letters:
            if letter.parked_id is not None and self.unsent.pop(letter.parked_id, None):
                self.records.release(letter.parked_id, "dead_lettered", letter.headers[t.ERROR])


class _Internal(DomainError):
    code = INTERNAL_ERROR


def _letter(
    body: bytes,
    message_id: str | None,
    routing_key: str,
    kept: dict,
    code: str,
    detail: str,
    user_id: str | None,
    first_seen: datetime,
    parked_id: UUID | None = None,
) -> DeadLetterOut:
    headers = {
        t.ERROR: code,
        t.DETAIL: detail,
        t.ROUTING_KEY: routing_key,
        t.FIRST_SEEN: first_seen.isoformat(),
    }
    if user_id:
        headers[t.USER_ID] = user_id
    return DeadLetterOut(body, message_id, routing_key, kept, headers, parked_id)
