"""What names an inbound message and how its body is kept, for the service's records of the
messages it could not apply at once (``domain.inbound``): the message's key, its body's digest,
the body as stored, and the ids of its dead letter and its parked message.
"""

from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import dataclass
from uuid import NAMESPACE_URL, UUID, uuid5

from domain.hashing import digest
from domain.ids import Namespace

NAMESPACE = Namespace(uuid5(NAMESPACE_URL, "https://towns.gd.gov.cn/inbound"))
EARLY_CODES = frozenset({"unknown_application", "invalid_transition", "precondition_failed"})
"""Refusals that may only mean the message arrived before its predecessor."""


def message_key(message_id: str | None, body: bytes) -> str:
    """What names a message: its id, or the hash of its body when it has none."""
    return message_id or "sha256:" + hashlib.sha256(body).hexdigest()


def body_digest(body: bytes) -> str:
    """What tells two bodies apart: "the same message" is the same envelope compared as parsed
    JSON (CONTRACT.md §2), so key order and white space do not count; other bytes count all."""
    try:
        return "json:" + digest(json.loads(body))
    except (ValueError, UnicodeError, RecursionError, TypeError):
        return "raw:" + hashlib.sha256(body).hexdigest()


def other_body_key(key: str, body: bytes) -> str:
    """The key of a message whose id (``key``) already names records of another body: two
    messages, each with records of its own."""
    return f"{key}\n{body_digest(body)}"


STORED_BODY_LIMIT = 256 * 1024
"""The largest body a dead letter keeps whole: the contract's limit for a message."""


@dataclass(frozen=True)
class StoredBody:
    """A dead letter's body as recorded: ``text`` in ``encoding`` (``encode_body``), or None
    for a body over ``STORED_BODY_LIMIT``; its length and SHA-256 always."""

    text: str | None
    encoding: str | None
    length: int
    sha256: str


def stored_body(body: bytes) -> StoredBody:
    sha256 = hashlib.sha256(body).hexdigest()
    if len(body) > STORED_BODY_LIMIT:
        return StoredBody(None, None, len(body), sha256)
    text, encoding = encode_body(body)
    return StoredBody(text, encoding, len(body), sha256)


def encode_body(body: bytes) -> tuple[str, str]:
    """The body as stored and shown: (text, "utf-8") or (base64, "base64")."""
    try:
        return body.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        return base64.b64encode(body).decode("ascii"), "base64"


def decode_body(text: str, encoding: str) -> bytes:
    return base64.b64decode(text) if encoding == "base64" else text.encode("utf-8")


def dead_letter_id(key: str) -> UUID:
    return NAMESPACE.uuid5(f"dead\n{key}")


def parked_id(key: str) -> UUID:
    return NAMESPACE.uuid5(f"parked\n{key}")
