"""The fields of an application's event and what its hash covers: one function each, used by the
aggregate when it triggers an event and by the event when it checks its own link in the chain
(``domain.applications``), and by the audit's quick reading of stored events; and ``Meta``, what
every event keeps beside its data, which the aggregate's commands take."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from domain.hashing import chain


@dataclass(frozen=True)
class Meta:
    """What every event keeps beside its data: business time, actor, message id."""

    occurred_at: datetime
    actor: dict
    message_id: str


def event_fields(
    event_class: type,
    originator_id: UUID,
    version: int,
    timestamp: datetime,
    meta: Any,
    data: dict,
    prev_hash: str,
    originator_topic: str | None = None,
) -> dict[str, Any]:
    """The keyword arguments of the event (``meta``: a ``Meta``), its hash
    included; ``originator_topic`` for the first event, which names the aggregate's class."""
    fields = {
        "originator_id": originator_id,
        "originator_version": version,
        "timestamp": timestamp,
        "occurred_at": meta.occurred_at,
        "actor": meta.actor,
        "message_id": meta.message_id,
        "data": data,
        "prev_hash": prev_hash,
    }
    hashed = content(event_class, originator_id, version, timestamp, meta, data, originator_topic)
    fields["hash"] = chain(prev_hash, hashed)
    return fields


def content(
    event_class: type,
    originator_id: UUID,
    version: int,
    recorded_at: datetime,
    meta: Any,
    data: dict,
    originator_topic: str | None = None,
) -> dict[str, Any]:
    # the times as canonical() would write them, without its call back per datetime
    return event_content(event_class, str(originator_id), version, recorded_at.isoformat(),
                         meta.occurred_at.isoformat(), meta.actor, meta.message_id, data,
                         originator_topic)


def event_content(
    event_class: type,
    application_id: str,
    version: int,
    recorded_at: str,
    occurred_at: str,
    actor: dict,
    message_id: str,
    data: dict,
    originator_topic: str | None = None,
) -> dict[str, Any]:
    """What an event's hash covers (beside the previous hash), its times in ISO form."""
    content = {
        "type": event_class.EVENT_TYPE,
        "topic": event_class.TOPIC,
        "application_id": application_id,
        "version": version,
        "recorded_at": recorded_at,
        "occurred_at": occurred_at,
        "actor": actor,
        "message_id": message_id,
        "data": data,
    }
    if originator_topic is not None:  # the first event names the aggregate's class
        content["originator_topic"] = originator_topic
    return content


def without_ids(fields: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in fields.items() if k not in ("originator_id", "originator_version")}
