"""What a dead letter keeps of the message it carries: its AMQP properties and headers
(CONTRACT.md §2: a message that cannot be applied goes to the dead-letter queue unchanged, with
the ``x-towns-*`` headers added), also when it was parked first or is re-driven later.

Not kept as they came: ``message_id`` (carried on its own, unchanged), ``user_id`` (RabbitMQ lets
only the original user send it: it travels as ``x-towns-user-id``), ``delivery_mode`` (a dead
letter is persistent), ``expiration`` (a dead letter never expires), and any ``x-towns-*``
header (the service sets its own). A property or header value that could not be sent or
recorded again (an integer beyond 64 bits, say) is left out rather than stop the letter. pika
reads AMQP floats as integers: those are kept as pika read them.

A letter must fit the broker's frame: its properties travel in one content-header frame
(``frame_max``, 131072 bytes by default). Everything the service adds is bounded, and so is each
kept property (a short string, at most 255 bytes); the publisher's headers are kept only while
they fit ``HEADERS_BUDGET``, else they are all left off (``letter_kept`` says so), and the letter
says so in ``x-towns-headers-dropped``.
"""

from __future__ import annotations

import base64
import struct
from typing import Any

import pika
from pika import data
from pika.exceptions import ShortStringTooLong, UnsupportedAMQPFieldException

KEPT = ("content_type", "content_encoding", "correlation_id", "reply_to", "type", "app_id",
        "timestamp", "priority")
SERVICE_HEADERS = "x-towns-"
HEADERS_BUDGET = 64 * 1024
"""The most bytes of publisher headers (an encoded AMQP field table) a letter carries: half a
default frame, leaving the other half to the rest, which is bounded to a few KiB (x-towns-detail
at most 1,024 characters, the other service headers and kept properties short strings)."""


def kept_of(properties: Any, content_type: str | None = None, headers: dict | None = None) -> dict:
    """The properties a letter keeps, from pika's ``BasicProperties`` (or None, then only
    ``content_type`` and ``headers`` as given)."""
    return letter_kept(properties, content_type, headers)[0]


def letter_kept(properties: Any, content_type: str | None = None,
                headers: dict | None = None) -> tuple[dict, bool]:
    """``kept_of``, and whether the publisher's headers were left off for ``HEADERS_BUDGET``."""
    kept: dict[str, Any] = {}
    if properties is not None:
        kept = {name: value for name in KEPT
                if (value := getattr(properties, name)) is not None and _property_sendable(name, value)}
        headers = properties.headers
    elif content_type is not None:
        kept["content_type"] = content_type
    publisher: dict[str, Any] = {}
    size = 4  # the table's length
    for key, value in (headers or {}).items():
        if str(key).startswith(SERVICE_HEADERS):
            continue
        encoded = _encoded_size(key, value)
        if encoded is not None:
            publisher[key] = value
            size += encoded
    if size > HEADERS_BUDGET:
        return kept, True
    if publisher:
        kept["headers"] = publisher
    return kept, False


def without_headers(kept: dict) -> dict:
    """``kept`` without the publisher's headers: a letter in its safest form."""
    return {name: value for name, value in kept.items() if name != "headers"}


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


_UNSENDABLE = (UnsupportedAMQPFieldException, ShortStringTooLong, TypeError, ValueError,
               OverflowError, struct.error)


def _encoded_size(key: Any, value: Any) -> int | None:
    """The bytes of one header in a field table; None when it cannot be recorded (a field
    table) and sent again."""
    try:
        return data.encode_short_string([], key) + data.encode_value([], value)
    except _UNSENDABLE:
        return None


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
