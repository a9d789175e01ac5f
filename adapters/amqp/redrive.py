"""Re-driving dead letters (CONTRACT.md §2): the stored message goes back to ``towns.inbound``,
its copy comes off ``towns.inbound.dead``, and its record is marked with who re-drove it and when.

The database is the source of truth: a letter is re-driven from the body stored with it, so a
purged dead queue changes nothing. The order of the steps keeps every letter somewhere:

1. the chosen letters' copies are taken off ``towns.inbound.dead`` (the others stay, untouched:
   they are left unacknowledged and return when the channel closes). Before anything is
   republished, so that a copy dead-lettered *again* by a running consumer is never taken;
2. per letter, the re-drive is recorded, then the message is published and confirmed. Recording
   first means that a consumer which refuses the message again finds the letter closed and counts
   another attempt (``DeadLetter.again``) instead of taking it for a redelivery. Should the
   publish fail, the error names the letters recorded but not confirmed; ``--id`` re-drives a
   letter whatever its state, so they can be sent again.

The message is published as the service's own user (the user of ``TOWNS_AMQP_URL``) with the
original sender in ``x-towns-user-id``; the consumer authenticates it as that sender.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime, timezone
from uuid import UUID

import pika
from pika.exceptions import AMQPError, NackError, UnroutableError

from adapters.amqp import endpoints, properties
from adapters.amqp.endpoints import Endpoints, close_quietly
from adapters.amqp import topology as t
from adapters.ops.dead_letters import MAX_LIMIT, every
from adapters.store.dead_letter_filter import LetterFilter
from adapters.store.inbound_records import InboundRecords
from domain.inbound import DeadLetter, body_digest, message_key, other_body_key


class RedriveError(Exception):
    """A re-drive that could not be done; the message says why in one line."""


class UnknownDeadLetter(RedriveError, LookupError):
    def __init__(self, letter_id: UUID) -> None:
        super().__init__(f"no dead letter has the id {letter_id}")
        self.letter_id = letter_id


class BodyNotStored(RedriveError):
    def __init__(self, letter_id: UUID) -> None:
        super().__init__(f"the body of dead letter {letter_id} is not stored (over 256 KiB): "
                         "it cannot be re-driven (it would be refused as malformed again)")
        self.letter_id = letter_id


def choose(records: InboundRecords, ids: Sequence[UUID] | None, all_open: bool,
           code: str | None = None, limit: int | None = None, where: LetterFilter | None = None,
           after: UUID | None = None) -> list[DeadLetter]:
    """The letters to re-drive: every open one whose body is stored and that ``where`` matches
    (with ``code``, only those dead-lettered with it; with ``after``, only those first recorded
    after that letter; with ``limit``, the first that many in the order recorded), or those
    named (all must exist and have their body)."""
    if all_open:
        where = (where or LetterFilter()).with_code(code)
        chosen = []
        for letter in every(records, True, min(limit or MAX_LIMIT, MAX_LIMIT), where, after):
            if letter.body is not None:
                chosen.append(letter)
                if limit is not None and len(chosen) >= limit:
                    break
        return chosen
    letters = []
    for letter_id in dict.fromkeys(ids or []):
        letter = records.letter(letter_id)
        if not isinstance(letter, DeadLetter):
            raise UnknownDeadLetter(letter_id)
        if letter.body is None:
            raise BodyNotStored(letter_id)
        letters.append(letter)
    return letters


def requeue(
    records: InboundRecords,
    url: str,
    ids: list[UUID] | None,
    all_open: bool,
    by: str,
    reason: str | None = None,
    code: str | None = None,
    limit: int | None = None,
    action_id: UUID | None = None,
    where: LetterFilter | None = None,
    after: UUID | None = None,
    on_progress: Callable[[int, int], None] | None = None,
) -> list[DeadLetter]:
    """Re-drives the chosen dead letters (``choose``); returns them as recorded afterwards, in
    the order re-driven. The re-drive is recorded first as an operator action (who, why, which
    letters, the filter; under ``action_id`` when given), an event of the log.
    ``on_progress(done, total)`` is told after each letter the broker confirmed."""
    from adapters.audit.evidence.actions import record_action
    from domain.operations import REDRIVE

    letters = choose(records, ids, all_open, code, limit, where, after)
    if not letters:
        return []
    details = {"all": all_open, "letters": [str(letter.id) for letter in letters[:1000]],
               "count": len(letters)}
    criteria = (where or LetterFilter()).with_code(code) if all_open else None
    if criteria:
        details["filter"] = criteria.as_dict()
    record_action(records.towns, REDRIVE, by, reason, details, id=action_id)
    service_user = pika.URLParameters(endpoints.first(url)).credentials.username
    try:
        connection = Endpoints(url).connect()
    except (AMQPError, OSError) as error:
        raise RedriveError(f"cannot connect to RabbitMQ: {error!r}") from error
    try:
        channel = connection.channel()
        t.declare(channel)
        take_off_dead_queue(connection, letters)
        channel.confirm_delivery()
        done: list[DeadLetter] = []
        for letter in letters:
            recorded = records.requeued(letter.id, by)
            try:
                _publish(channel, letter, service_user)
            except (AMQPError, OSError) as error:
                raise RedriveError(
                    f"re-drive of {letter.id} recorded but not confirmed by the broker "
                    f"({_reason(error)}); {len(done)} of {len(letters)} re-driven; "
                    f"send it again with --id {letter.id}"
                ) from error
            done.append(recorded)
            if on_progress is not None:
                on_progress(len(done), len(letters))
        return done
    except AMQPError as error:
        raise RedriveError(f"RabbitMQ failed: {_reason(error)}") from error
    finally:
        close_quietly(connection)


def take_off_dead_queue(connection: pika.BlockingConnection, letters: Sequence[DeadLetter]) -> int:
    """Acknowledges every message of ``towns.inbound.dead`` that is one of ``letters`` (the
    same message under the letter's key: its message_id, or its body's hash when it has none;
    ``body_digest``) and returns how many; leaves the others, another body under the same id
    included, in the queue.

    The queue is read with ``basic.get`` up to the depth it had when we started: a consumer with
    a prefetch limit would stall behind that many messages we must leave unacknowledged. Closing
    the channel returns every message not acknowledged to the queue.
    """
    wanted = {(letter.key, body_digest(letter.body_bytes())) for letter in letters}
    channel = connection.channel()
    taken = 0
    try:
        depth = channel.queue_declare(t.DEAD_QUEUE, passive=True).method.message_count
        for _ in range(depth):
            method, properties, body = channel.basic_get(t.DEAD_QUEUE, auto_ack=False)
            if method is None:
                break
            key, this = message_key(properties.message_id, body), body_digest(body)
            if (key, this) in wanted or (other_body_key(key, body), this) in wanted:
                channel.basic_ack(method.delivery_tag)
                taken += 1
    finally:
        if channel.is_open:
            channel.close()  # the others come back, unacknowledged: never lost
    return taken


def _publish(channel, letter: DeadLetter, service_user: str) -> None:
    headers = {
        t.ROUTING_KEY: letter.routing_key,
        t.FIRST_SEEN: letter.first_seen.isoformat(),
        t.REQUEUED_AT: datetime.now(timezone.utc).isoformat(),
    }
    if letter.user_id:
        headers[t.USER_ID] = letter.user_id
    kept = properties.decode(letter.properties)
    channel.basic_publish(
        t.EXCHANGE,
        letter.routing_key,
        letter.body_bytes(),
        # Always as the service, so that its headers are believed: with no x-towns-user-id (no
        # sender then, none now) the consumer refuses it as it did the first time.
        properties.letter_properties(letter.message_id, kept, headers, user_id=service_user),
        mandatory=True,
    )


def _reason(error: BaseException) -> str:
    if isinstance(error, UnroutableError):
        return f"unroutable: is a queue bound to {t.EXCHANGE}?"
    if isinstance(error, NackError):
        return "refused (nacked) by the broker"
    return str(error) or type(error).__name__
