"""Outcomes back to the sender, as RabbitMQ's request/reply convention has it: a message taken
from ``towns.inbound`` that carries the AMQP property ``reply_to`` has its outcome published to
that queue (the default exchange, routing key = ``reply_to``), with ``correlation_id`` = the
message's ``message_id``, once the store holds what decided it (``adapters.amqp.reply_sender``
sends them).

The reply's body is one small JSON object (``reply_body``):

- applied: ``{"message_id", "outcome": "applied", "call_id", "application_ref", "status",
  "version"}`` (the application as it stands after the event, as over HTTP);
- duplicate: the same with ``"outcome": "duplicate"`` (the application as it stands now);
- refused: ``{"message_id", "outcome": "refused", "code", "detail"}``: the contract's error code
  and the sentence of ``x-towns-detail`` (at most ``DETAIL_LIMIT`` characters), as on the dead
  letter.

A parked message (possibly early) has no reply while it waits: it has one when it is finally
applied, or refused for good (dead-lettered).

``reply_to`` comes from whoever may write to ``towns.inbound``, so it is checked
(``reply_queue``) before anything is published to it: an AMQP short string (at most 255 bytes
of UTF-8), printable, without white space at either end, not one of the service's own queues,
and not a name reserved by RabbitMQ (``amq.``) other than a server-named queue
(``amq.gen-…``). Direct reply-to (``amq.rabbitmq.reply-to…``) is refused: the requester would
have to keep the very channel it published on open until the message is consumed, maybe much
later and by another connection, and a forged name of that form makes RabbitMQ close the
publishing connection (the replies' own, ``adapters.amqp.reply_sender``;
``adapters.amqp.reply_suspects`` refuses from then on any other name found to do that). A refused ``reply_to`` is counted and logged; the
message itself is handled as any other.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from typing import Any

import pika

from adapters.amqp import properties as kept_properties
from adapters.amqp import topology as t
from adapters.amqp.delivery import Delivery
from domain.commands import Command, Outcome
from domain.errors import DomainError, bounded_text
from domain.inbound import DeadLetter, ParkedMessage

CONTENT_TYPE = "application/json"
APP_ID = "towns"
REPLY_TYPE = "towns.outcome"
"""The AMQP ``type`` property of a reply."""
SHORTSTR = 255
"""An AMQP short string (a queue name, ``reply_to``) holds at most 255 bytes."""
DETAIL_LIMIT = t.DETAIL_LIMIT
REPLY_MAX_BYTES = 8 * 1024
"""The most bytes of a reply's body: a message id of at most 255 bytes and a detail of at most
1,024 characters fit it even when every character is escaped."""
RESERVED_PREFIX = "amq."
SERVER_NAMED_PREFIX = "amq.gen-"
DIRECT_REPLY_TO = "amq.rabbitmq.reply-to"
OWN_QUEUES = frozenset({t.QUEUE, t.DEAD_QUEUE})

APPLIED, DUPLICATE, REFUSED = "applied", "duplicate", "refused"


@dataclass(frozen=True)
class ReplyOut:
    """A reply to publish: ``queue`` None when the message's ``reply_to`` was refused
    (``refused`` says why), then nothing is published and the reply is only counted."""

    queue: str | None
    correlation_id: str | None
    body: bytes
    refused: str | None = None
    reply_to: Any = None
    """``reply_to`` as it came (for the log of a refused one)."""

    def properties(self, user_id: str | None = None) -> pika.BasicProperties:
        """Persistent JSON, named by a fresh ``message_id``, from the service's user (RabbitMQ
        checks ``user_id``: a receiver can trust that the service sent it)."""
        return pika.BasicProperties(
            content_type=CONTENT_TYPE, delivery_mode=2, correlation_id=self.correlation_id,
            message_id=uuid.uuid4().hex, app_id=APP_ID, type=REPLY_TYPE, user_id=user_id,
        )


def reply_queue(reply_to: Any) -> tuple[str | None, str | None]:
    """``(queue, None)`` when a reply may be published to ``reply_to``; ``(None, reason)``
    when it may not; ``(None, None)`` when there is none (absent or empty: no reply asked)."""
    if reply_to is None or reply_to == "" or reply_to == b"":
        return None, None
    if not isinstance(reply_to, str):  # pika hands over bytes that are not UTF-8
        return None, "reply_to is not UTF-8"
    if len(reply_to.encode("utf-8", "surrogatepass")) > SHORTSTR:
        return None, f"reply_to is longer than {SHORTSTR} bytes"
    if not reply_to.isprintable() or reply_to != reply_to.strip():
        return None, "reply_to holds a control character or white space at an end"
    if reply_to.startswith(DIRECT_REPLY_TO):
        return None, "direct reply-to (amq.rabbitmq.reply-to) is not supported: name a queue"
    if reply_to.startswith(RESERVED_PREFIX) and not reply_to.startswith(SERVER_NAMED_PREFIX):
        return None, "reply_to names a queue reserved by RabbitMQ (amq.)"
    if reply_to in OWN_QUEUES:
        return None, "reply_to names a queue of the service"
    return reply_to, None


def reply_body(message_id: str | None, result: Outcome | DomainError,
               code: str | None = None, detail: str | None = None) -> bytes:
    """The reply's body (the module's docstring): an outcome, or a refusal with its code and
    detail (``code`` and ``detail`` override the error's: those of its dead-letter record)."""
    if isinstance(result, Outcome):
        value: dict[str, Any] = {
            "message_id": message_id,
            "outcome": DUPLICATE if result.duplicate else APPLIED,
            "call_id": result.call_id,
            "application_ref": result.application_ref,
            "status": result.status,
            "version": result.version,
        }
        return _encoded(value)
    text = bounded_text(detail if detail is not None else result.message, DETAIL_LIMIT)
    value = {"message_id": message_id, "outcome": REFUSED,
             "code": code or result.code, "detail": text}
    body = _encoded(value)
    while len(body) > REPLY_MAX_BYTES:  # only for a detail of characters JSON escapes
        text = bounded_text(text, len(text) // 2)
        body = _encoded({**value, "detail": text})
    return body


def reply(reply_to: Any, message_id: str | None, result: Outcome | DomainError,
          code: str | None = None, detail: str | None = None) -> ReplyOut | None:
    """The reply a message's outcome owes, if its ``reply_to`` asks for one (refused or not)."""
    queue, refused = reply_queue(reply_to)
    if queue is None and refused is None:
        return None
    if not isinstance(message_id, str):  # pika hands over bytes that are not UTF-8
        message_id = None
    return ReplyOut(queue, correlation_id(message_id), reply_body(message_id, result, code, detail),
                    refused, reply_to)


def to_delivery(delivery: Delivery, result: Outcome | DomainError,
                letter: DeadLetter | None = None) -> list[ReplyOut]:
    """The reply a delivery owes (none or one); a refusal's code and detail are those of its
    dead-letter record (``letter``) when there is one."""
    reply_to = getattr(delivery.amqp, "reply_to", None)
    if reply_to is None:
        return []
    message_id = delivery.message_id
    if message_id is None and isinstance(delivery.prepared, Command):
        message_id = delivery.prepared.message_id
    return _owed(reply(reply_to, message_id, result, *_of(letter)))


def to_parked(parked: ParkedMessage, result: Outcome | DomainError,
              letter: DeadLetter | None = None) -> list[ReplyOut]:
    """The reply a parked message owes for its final outcome, to the ``reply_to`` kept with
    its properties."""
    reply_to = kept_properties.decode(parked.properties).get("reply_to")
    if reply_to is None:
        return []
    return _owed(reply(reply_to, parked.message_id, result, *_of(letter)))


def _of(letter: DeadLetter | None) -> tuple[str | None, str | None]:
    return (letter.code, letter.detail) if letter is not None else (None, None)


def _owed(out: ReplyOut | None) -> list[ReplyOut]:
    return [out] if out is not None else []


def correlation_id(message_id: str | None) -> str | None:
    """The message's id as ``correlation_id``, when it fits an AMQP short string."""
    if not isinstance(message_id, str) or len(message_id.encode("utf-8", "surrogatepass")) > SHORTSTR:
        return None
    return message_id


def _encoded(value: dict) -> bytes:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode("utf-8", "replace")
