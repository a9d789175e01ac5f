"""What the consumer does with deliveries, apart from the broker: apply them in one group
commit, hand the possibly-early ones to the reorder policy (``adapters.inbound.ordering``) with
what their trusted headers say, and say which must be dead-lettered.

Nothing here touches a channel, so it runs in a worker thread while the connection's thread
keeps the heartbeats, and unit tests can drive it with plain ``Delivery`` values.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import datetime, timedelta
from uuid import UUID

from eventsourcing.persistence import PersistenceError

from adapters.amqp import properties
from adapters.amqp.delivery import Delivery, Trust, utcnow
from adapters.amqp.letters import DeadLetterOut
from adapters.amqp import replies
from adapters.amqp import topology as t
from adapters.config import Config
from adapters.store.inbound_records import Dispatch, InboundRecords
from adapters.inbound.ingest import ingest, ingest_prepared, prepared
from adapters.inbound.ordering import Reordering, application_of, early
from adapters.ops import metrics
from domain.applications import application_id
from domain.commands import Command, Outcome
from domain.errors import DomainError, bounded_text
from domain.inbound import SENDS, ParkedMessage, dead_letter_id, decode_body
from domain.principals import Principal
from domain.service import Towns

log = logging.getLogger("towns.consume")
INTERNAL_ERROR = "internal_error"


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
        self.service_user = service_user
        self.trust = Trust(service_user)
        self.unsent: dict[UUID, DeadLetterOut] = {}
        """Parked messages dead-lettered but not yet confirmed by the broker. They were
        acknowledged when parked, so their records stay open until ``sent``: a lost connection
        sends them again on the next one, a crash dead-letters them again on restart."""
        self.applied = 0
        self.replies: list[replies.ReplyOut] = []  # owed once the store holds what decided it
        self.ordering = Reordering(records, timedelta(seconds=reorder_window), self._try,
                                   self._dead_parked)

    @property
    def window(self) -> timedelta:
        return self.ordering.window

    @property
    def parked(self) -> dict[UUID, list[ParkedMessage]]:
        """The parked messages by application (``Reordering.parked``)."""
        return self.ordering.parked

    @property
    def parked_count(self) -> int:
        return self.ordering.count

    def refresh(self) -> None:
        """Reads the parking records written since the last look (``Reordering.refresh``)."""
        self.ordering.refresh()

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
            ], saving, count=False)  # counted below, by where each message ends
        except PersistenceError:
            raise  # the store is unwell: nothing is acknowledged, the broker redelivers
        except Exception:  # noqa: BLE001 - find the one message that fails alone
            log.exception("a batch failed unexpectedly; applying its messages one at a time")
            results = [self._alone(d.body, p) for d, p in zip(deliveries, principals)]
        out: list[DeadLetterOut] = []
        changed: list[UUID] = []
        seen: set[UUID] = set()  # letters of this batch: a message twice in it is sent once
        for delivery, result in zip(deliveries, results):
            subject = delivery.prepared if isinstance(delivery.prepared, Command) else delivery.body
            if isinstance(result, Outcome):
                metrics.ingested(subject, result)
                self.replies += replies.to_delivery(delivery, result)
                self.applied += not result.duplicate
                if not result.duplicate:
                    changed.append(application_id(result.call_id, result.application_ref))
            elif early(result):
                metrics.parked(subject, result)
                self._park(delivery, result)
            else:
                metrics.ingested(subject, result)
                if (letter := self._dead(delivery, result, seen)) is not None:
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
        user = self.trust.original_user(delivery)
        return self.config.by_amqp_user(user) if user else None

    def _alone(self, body: bytes, principal: Principal | None) -> Outcome | DomainError:
        try:
            return ingest(self.towns, body, principal, count=False)
        except DomainError as error:
            return error
        except PersistenceError:
            raise
        except Exception as error:  # noqa: BLE001 - a poison message must not block the queue
            log.exception("a message failed alone; dead-lettering it")
            return _Internal(f"the service failed on this message: {type(error).__name__}")

    def _dead(self, delivery: Delivery, error: DomainError, seen: set[UUID]) -> DeadLetterOut | None:
        """Records the dead-lettering; the letter to send, if one is owed (``Dispatch``)."""
        key = self.records.key_of(delivery.message_id, delivery.body)
        if dead_letter_id(key) in seen:
            self.replies += replies.to_delivery(delivery, error)
            return None
        seen.add(dead_letter_id(key))
        kept, too_large = delivery.kept()
        dispatch = self.records.dead_letter(
            key, delivery.message_id, error.code, bounded(error.message), delivery.body,
            self.trust.original_user(delivery), self.trust.routing_key(delivery),
            self.trust.first_seen(delivery), properties.encode(kept), too_large,
        )
        self.replies += replies.to_delivery(delivery, error, dispatch.letter)
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

    # -- early messages -----------------------------------------------------------------------------

    def _park(self, delivery: Delivery, error: DomainError) -> None:
        app_id = application_of(delivery.body)
        first_seen = self.trust.first_seen(delivery)
        kept, too_large = delivery.kept()
        parked = self.records.park(
            self.records.key_of(delivery.message_id, delivery.body), delivery.message_id, app_id,
            delivery.body,
            self.trust.original_user(delivery), self.trust.routing_key(delivery),
            first_seen, error.code, bounded(error.message),
            self.trust.window_from(delivery, first_seen),
            properties.encode(kept), too_large,
        )
        self.ordering.hold(app_id, parked)

    def retry(self, changed: Sequence[UUID]) -> list[DeadLetterOut]:
        """Retries the messages parked on applications that changed (``Reordering.retry``)."""
        out, applied = self.ordering.retry(changed)
        self.applied += applied
        return out

    def expire(self, now: datetime | None = None) -> list[DeadLetterOut]:
        """Dead-letters parked messages whose window has passed, after one last try
        (``Reordering.expire``)."""
        out, applied = self.ordering.expire(now or utcnow())
        self.applied += applied
        return out

    def _try(self, parked: ParkedMessage) -> Outcome | DomainError:
        """One retry of a parked message: counted as a retry, and as the message's outcome
        where it is applied (a refusal for good counts once its letter is owed)."""
        principal = self.config.by_amqp_user(parked.user_id) if parked.user_id else None
        body = decode_body(parked.body, parked.body_encoding)
        result = self._alone(body, principal)
        metrics.retried(body, result, not isinstance(result, Outcome) and early(result))
        if isinstance(result, Outcome):
            metrics.ingested(body, result)
            self.replies += replies.to_parked(parked, result)  # released as applied or duplicate
        return result

    def _dead_parked(self, app_id: UUID, parked: ParkedMessage, error: DomainError) -> list[DeadLetterOut]:
        """The letter of a parked message refused for good: owed (``unsent``) until the broker
        confirms it (``sent``), when the parked record is released."""
        body = decode_body(parked.body, parked.body_encoding)
        metrics.ingested(body, error)
        dispatch = self.records.dead_letter(
            parked.key, parked.message_id, error.code, bounded(error.message), body,
            parked.user_id, parked.routing_key, parked.first_seen, parked.properties,
            parked.headers_too_large)
        self.replies += replies.to_parked(parked, error, dispatch.letter)
        self.ordering.forget(app_id, parked)
        return self._owe(parked.id, self._out(dispatch, body, properties.decode(parked.properties),
                                              parked.id), dispatch.letter.code)

    def _owe(self, parked: UUID, letter: DeadLetterOut | None, code: str) -> list[DeadLetterOut]:
        if letter is None:  # its copy is on the queue already, or was given up: nothing owed
            self.unsent.pop(parked, None)
            self.records.release(parked, "dead_lettered", code)
            return []
        self.unsent[parked] = letter
        return [letter]

    def take_replies(self) -> list[replies.ReplyOut]:
        """The replies owed so far (``replies``), handed over once."""
        owed, self.replies = self.replies, []
        return owed

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
