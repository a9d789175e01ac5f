"""What a dead letter keeps of the message it carries: its AMQP properties and headers
(CONTRACT.md §2: a message that cannot be applied goes to the dead-letter queue unchanged, with
the ``x-towns-*`` headers added), also when it was parked first or is re-driven later.

Not kept as they came: ``message_id`` (carried on its own, unchanged), ``user_id`` (RabbitMQ lets
only the original user send it: it travels as ``x-towns-user-id``), ``delivery_mode`` (a dead
letter is persistent), ``expiration`` (a dead letter never expires), and any ``x-towns-*``
header (the service sets its own). A property or header value that could not be sent or
recorded again (an integer beyond 64 bits, say) is left out rather than stop the letter. pika
reads AMQP floats as integers: those are kept as pika read them.
"""

from __future__ import annotations

import base64
import struct
from typing import Any

import pika
from pika import data
from pika.exceptions import UnsupportedAMQPFieldException

KEPT = ("content_type", "content_encoding", "correlation_id", "reply_to", "type", "app_id",
        "timestamp", "priority")
SERVICE_HEADERS = "x-towns-"


def kept_of(properties: Any, content_type: str | None = None, headers: dict | None = None) -> dict:
    """The properties a letter keeps, from pika's ``BasicProperties`` (or None, then only
    ``content_type`` and ``headers`` as given)."""
    kept: dict[str, Any] = {}
    if properties is not None:
        kept = {name: value for name in KEPT
                if (value := getattr(properties, name)) is not None and _property_sendable(name, value)}
        headers = properties.headers
    elif content_type is not None:
        kept["content_type"] = content_type
    publisher = {k: v for k, v in (headers or {}).items()
                 if not str(k).startswith(SERVICE_HEADERS) and _sendable(v)}
    if publisher:
        kept["headers"] = publisher
    return kept


def encode(kept: dict) -> str:
    """``kept`` as text for a record (an AMQP field table, base64; empty when there is nothing)."""
    if not kept:
        return ""
    pieces: list[bytes] = []
    data.encode_table(pieces, kept)
    return base64.b64encode(b"".join(pieces)).decode("ascii")


def decode(text: str | None) -> dict:
    """What ``encode`` wrote. None is a record from before properties were kept: its letters
    went out as JSON, which is what they keep."""
    if text is None:
        return {"content_type": "application/json"}
    if not text:
        return {}
    table, _ = data.decode_table(base64.b64decode(text), 0)
    return table


def letter_properties(message_id: str | None, kept: dict, service_headers: dict,
                      user_id: str | None = None) -> pika.BasicProperties:
    """The properties of a dead letter (or of its re-drive): the message's own, persistent,
    with the service's headers added."""
    own = dict(kept)
    headers = {**own.pop("headers", {}), **service_headers}
    return pika.BasicProperties(message_id=message_id, user_id=user_id, delivery_mode=2,
                                headers=headers, **own)


_UNSENDABLE = (UnsupportedAMQPFieldException, TypeError, ValueError, OverflowError, struct.error)


def _sendable(value: Any) -> bool:
    """Whether a header value can be recorded (a field table) and sent again."""
    try:
        data.encode_value([], value)
    except _UNSENDABLE:
        return False
    return True


def _property_sendable(name: str, value: Any) -> bool:
    try:
        pika.spec.BasicProperties(**{name: value}).encode()
    except _UNSENDABLE:
        return False
    return _sendable(value)
