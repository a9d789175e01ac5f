"""Batch files (JSONL) of inbound messages, as the demo and ``towns publish`` read them.

Each line is one of:
- ``{"principal": NAME, "envelope": {...}}``: an envelope sent as that principal;
- ``{"principal": NAME, "raw": "text"}``: raw bytes, for messages that are not JSON;
- ``{"control": "deadline_check", "call_id": ..., "as_of": ...}``: run the call's deadline check;
- a bare envelope object: sent as the principal allowed to act as its actor, if exactly one is.
``principal`` null, or a name not configured, means no valid credentials.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from adapters.config import Config
from domain.principals import Actor, Principal

SHIPPED_BATCH = Path(__file__).with_name("demo_batch.jsonl")


@dataclass(frozen=True)
class Message:
    line: int
    principal: Principal | None
    principal_name: str | None
    body: bytes


@dataclass(frozen=True)
class DeadlineCheckRequest:
    line: int
    call_id: str
    as_of: datetime


class BatchError(ValueError):
    """A line of the batch file itself is unusable; the message names the line."""


def read_batch(path: Path, config: Config) -> Iterator[Message | DeadlineCheckRequest]:
    with path.open(encoding="utf-8") as lines:
        for number, text in enumerate(lines, start=1):
            if text.strip():
                yield _item(number, text, config)


def _item(number: int, text: str, config: Config) -> Message | DeadlineCheckRequest:
    try:
        item = json.loads(text)
    except json.JSONDecodeError as error:
        raise BatchError(f"line {number}: not JSON: {error.msg}") from None
    if not isinstance(item, dict):
        raise BatchError(f"line {number}: not an object")
    if item.get("control") == "deadline_check":
        return DeadlineCheckRequest(number, item["call_id"], datetime.fromisoformat(item["as_of"]))
    if "envelope" in item or "raw" in item:
        name = item.get("principal")
        principal = config.principals.get(name) if name else None
        body = item["raw"].encode("utf-8") if "raw" in item else _encode(item["envelope"])
        return Message(number, principal, name, body)
    principal = _principal_for(item, config)
    return Message(number, principal, principal.name if principal else None, _encode(item))


def _encode(value: object) -> bytes:
    return json.dumps(value, ensure_ascii=False).encode("utf-8")


def _principal_for(envelope: dict, config: Config) -> Principal | None:
    actor = envelope.get("actor") or {}
    try:
        wanted = Actor(role=actor["role"], id=str(actor.get("id")), city=actor.get("city"))
    except (KeyError, TypeError):
        return None
    matches = [p for p in config.principals.values() if p.may_act_as(wanted)]
    return matches[0] if len(matches) == 1 else None
