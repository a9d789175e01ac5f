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


def read_batch(path: Path, config: Config) -> list[Message | DeadlineCheckRequest]:
    """Every line of the file, read and checked before any is used: a line that cannot be
    used is a BatchError naming it, and nothing of the batch has been sent."""
    items: list[Message | DeadlineCheckRequest] = []
    with path.open("rb") as lines:
        for number, line in enumerate(lines, start=1):
            try:
                text = line.decode("utf-8")
                if text.strip():
                    items.append(_item(number, text, config))
            except UnicodeDecodeError as error:
                raise BatchError(f"{path}: line {number}: not UTF-8: {error.reason}") from None
            except BatchError as error:
                raise BatchError(f"{path}: {error}") from None
    return items


def _item(number: int, text: str, config: Config) -> Message | DeadlineCheckRequest:
    try:
        item = json.loads(text)
    except json.JSONDecodeError as error:
        raise BatchError(f"line {number}: not JSON: {error.msg}") from None
    if not isinstance(item, dict):
        raise BatchError(f"line {number}: not an object")
    if "control" in item:
        return _control(number, item)
    if "envelope" in item or "raw" in item:
        name = item.get("principal")
        if name is not None and not isinstance(name, str):
            raise BatchError(f"line {number}: principal is a name or null, not {name!r}")
        raw = item.get("raw")
        if "raw" in item and not isinstance(raw, str):
            raise BatchError(f"line {number}: raw is the text of a message, not {raw!r}")
        principal = config.principals.get(name) if name else None
        body = raw.encode("utf-8", "surrogatepass") if "raw" in item else _encode(item["envelope"])
        return Message(number, principal, name, body)
    principal = _principal_for(item, config)
    return Message(number, principal, principal.name if principal else None, _encode(item))


def _control(number: int, item: dict) -> DeadlineCheckRequest:
    if item["control"] != "deadline_check":
        raise BatchError(f"line {number}: the only control is deadline_check, not {item['control']!r}")
    call_id, as_of = item.get("call_id"), item.get("as_of")
    if not isinstance(call_id, str) or not call_id:
        raise BatchError(f"line {number}: a deadline_check names its call_id")
    try:
        instant = datetime.fromisoformat(as_of) if isinstance(as_of, str) else None
    except ValueError:
        instant = None
    if instant is None or instant.tzinfo is None:
        raise BatchError(f"line {number}: as_of is an ISO 8601 instant with an offset, not {as_of!r}")
    return DeadlineCheckRequest(number, call_id, instant)


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
