"""The service's own records of inbound messages it could not apply at once.

A *dead letter* is a message refused for good: it never expires and stays listed with its reason,
whatever happens to the broker's queue. A *parked* message was refused as possibly early
(``unknown_application``, ``invalid_transition``, ``precondition_failed``): it waits for its
application to change, and becomes a dead letter when its reorder window has passed.

Bodies are kept exactly: as text when they are UTF-8, else base64. A dead letter's body larger
than any message the contract accepts (256 KiB) is kept as its length and SHA-256 only: such a
message is refused as malformed (or before that), and its copy on the broker's dead-letter queue
stays whole. A parked message is never that large: it was read and checked before it was refused.

A dead letter also records what became of its copy for the broker (``Send``): confirmed
(``published``), or not confirmed after ``SENDS`` sends and given up (recorded only).

The parts, by job: ``domain.inbound_messages`` (keys, bodies, ids), ``domain.dead_letters``
(``DeadLetter``, ``Send``), ``domain.parked_messages`` (``ParkedMessage``); their names are
importable from here.
"""

from __future__ import annotations

from domain.dead_letters import SENDS, DeadLetter, Send
from domain.inbound_messages import (
    EARLY_CODES,
    NAMESPACE,
    STORED_BODY_LIMIT,
    StoredBody,
    body_digest,
    dead_letter_id,
    decode_body,
    encode_body,
    message_key,
    other_body_key,
    parked_id,
    stored_body,
)
from domain.parked_messages import ParkedMessage

__all__ = [
    "EARLY_CODES", "NAMESPACE", "SENDS", "STORED_BODY_LIMIT", "DeadLetter", "ParkedMessage", "Send",
    "StoredBody", "body_digest", "dead_letter_id", "decode_body", "encode_body", "message_key",
    "other_body_key", "parked_id", "stored_body",
]
