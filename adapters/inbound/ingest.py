"""The ingest path: bytes and a principal in, an outcome or a contract error out.

One function serves every entry point (RabbitMQ, HTTP, the demo). It refuses in DOMAIN.md's
order: no principal → unauthenticated; bytes that are not a UTF-8 JSON object of at most
256 KiB → malformed; then the schemas (``adapters.inbound.schemas``), then the application service.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from typing import Any, Callable, NoReturn

from adapters.ops import metrics
from adapters.inbound.schemas import parse_envelope
from domain.commands import Command, Outcome
from domain.errors import DomainError, Malformed, Unauthenticated
from domain.hashing import digest
from domain.principals import Actor, Principal
from domain.service import Towns

MAX_MESSAGE_BYTES = 256 * 1024
assert MAX_MESSAGE_BYTES == metrics.MAX_PARSED_BYTES


def decode(body: bytes) -> Any:
    """The JSON value of a message body; Malformed when it is too large, not UTF-8, not JSON or
    holds U+0000 in any string (CONTRACT.md §2: whatever else is wrong with it)."""
    if len(body) > MAX_MESSAGE_BYTES:
        raise Malformed(
            f"the message is {len(body)} bytes, over the limit of {MAX_MESSAGE_BYTES}",
            {"size": len(body), "limit": MAX_MESSAGE_BYTES},
        )
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as error:
        raise Malformed(f"the message is not UTF-8: {error.reason} at byte {error.start}") from None
    try:
        value = _DECODER.decode(text)
    except RecursionError:
        raise Malformed("the message nests too deeply to be read") from None
    except json.JSONDecodeError as error:
        raise Malformed(
            f"the message is not JSON: {error.msg} at line {error.lineno} column {error.colno}"
        ) from None
    except ValueError:  # Python's own limit on converting long integers
        raise Malformed(
            f"the message has an integer of more than {sys.get_int_max_str_digits()} digits"
        ) from None
    # A NUL can only come from the escape: JSON refuses raw control characters in its strings
    # and anywhere else. The text test is all a valid message pays; the walk tells an escaped
    # backslash followed by u0000 (no NUL) from the real thing.
    if NUL_ESCAPE in text and _holds_nul(value):
        raise Malformed("the message holds a NUL character (U+0000) in a string")
    return value


NUL_ESCAPE = "\\u0000"


def _holds_nul(value: Any) -> bool:
    """Whether a string of a decoded JSON value, keys included, holds U+0000 (without recursion:
    the value may nest as deep as the decoder allows)."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if "\0" in item:
                return True
        elif isinstance(item, dict):
            stack.extend(item)
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return False


def _not_json(constant: str) -> NoReturn:
    """Python reads NaN, Infinity and -Infinity; JSON has no such values."""
    raise Malformed(f"the message is not JSON: {constant} is not a JSON value")


_DECODER = json.JSONDecoder(parse_constant=_not_json)


def checked_digest(value: Any) -> str:
    """The digest of a decoded message, or Malformed for what Python reads but JSON and UTF-8
    do not have: a number beyond a double (read as infinity), a lone surrogate escape."""
    try:
        return digest(value)
    except UnicodeEncodeError:
        raise Malformed(
            "the message is not UTF-8: it escapes a lone surrogate (\\ud800-\\udfff)"
        ) from None
    except ValueError:
        raise Malformed("the message has a number too large to be a double") from None


def prepare(body: bytes, principal: Principal | None) -> Command:
    """Checks credentials and shape; the command the service then decides on."""
    if principal is None:
        raise Unauthenticated("no valid credentials")
    value = decode(body)
    body_digest = checked_digest(value)
    envelope = parse_envelope(value)
    actor = envelope["actor"]
    return Command(
        message_id=envelope["message_id"],
        type=envelope["type"],
        occurred_at=envelope["occurred_at"],
        call_id=envelope["call_id"],
        application_ref=envelope["application_ref"],
        actor=Actor.declared(actor["role"], actor["id"], actor["organisation"], actor["city"]),
        payload=envelope["payload"],
        digest=body_digest,
        body=value,
    )


def ingest(towns: Towns, body: bytes, principal: Principal | None, count: bool = True) -> Outcome:
    """Applies one message in its own transaction; raises a DomainError with its contract code.
    ``count`` False: the caller counts the message's outcome in the metrics (the consumer counts
    a message that waits for its predecessor by where it ends, not by each try)."""
    subject: bytes | Command = body
    try:
        subject = prepare(body, principal)
        result = towns.handle(subject, principal)
    except DomainError as error:
        if count:
            metrics.ingested(subject, error)
        raise
    return metrics.ingested(subject, result) if count else result


def prepared(body: bytes, principal: Principal | None) -> Command | DomainError:
    """``prepare``'s command, or its refusal as a value."""
    try:
        return prepare(body, principal)
    except DomainError as error:
        return error


def ingest_many(
    towns: Towns, messages: Sequence[tuple[bytes, Principal | None]]
) -> list[Outcome | DomainError]:
    """Applies messages in order and saves them in one transaction (group commit); each result
    is the message's outcome or its refusal, in the order given."""
    return ingest_prepared(towns, [(body, p, prepared(body, p)) for body, p in messages])


def ingest_prepared(
    towns: Towns,
    messages: Sequence[tuple[bytes, Principal | None, Command | DomainError]],
    saving: Callable[[], object] | None = None,
    count: bool = True,
) -> list[Outcome | DomainError]:
    """``ingest_many`` for messages already through ``prepared`` (body, principal, and what
    ``prepared`` gave for them): the consumer prepares deliveries while the batch before them
    is saved. ``saving``: see ``Towns.handle_many``; ``count``: see ``ingest``."""
    counted = metrics.ingested if count else _uncounted
    results: list[Outcome | DomainError | None] = []
    accepted: list[tuple[Command, Principal]] = []
    for body, principal, command in messages:
        if isinstance(command, DomainError):
            results.append(counted(body, command))
        else:
            accepted.append((command, principal))  # a Command needs a principal
            results.append(None)
    outcomes = towns.handle_many(accepted, saving)
    decided = iter(map(counted, [c for c, _ in accepted], outcomes))
    return [next(decided) if r is None else r for r in results]


def _uncounted(subject: object, result: Outcome | DomainError) -> Outcome | DomainError:
    return result


def error_body(error: DomainError) -> dict:
    """The contract's JSON error: ``{"error": {"code", "message", "details"}}``."""
    return {"error": error.as_dict()}
