"""``/api/v1/ops/dead-letters``: dead letters a page at a time, and their re-drive, part of the
operators' area (``adapters.http.ops``)."""

from __future__ import annotations

import logging
from typing import Any
from uuid import UUID, uuid4

from marshmallow import Schema, ValidationError, fields, validate

from adapters.amqp import topology as t
from adapters.http.auth import current_principal, require_roles
from adapters.http.context import current_towns
from adapters.http.errors import ErrorSchema, error_response
from adapters.http.events import request_body
from adapters.http.ops_blueprint import blp
from adapters.http.ops_dead_letter_filter import (  # noqa: F401 - count: its route, registered here
    MAX_BULK,
    DeadLetterFilterSchema,
    count_dead_letters,
    letter_filter,
)
from adapters.inbound.ingest import decode
from adapters.ops import dead_letters
from adapters.store.dead_letter_filter import INSTANTS, NAMES, LetterFilter
from adapters.store.inbound_records import InboundRecords
from domain.errors import Malformed, SchemaInvalid
from domain.inbound import DeadLetter
from domain.principals import OPERATOR

log = logging.getLogger("towns.http")


class DeadLetterQuerySchema(DeadLetterFilterSchema):
    queue = fields.String(validate=validate.OneOf([t.DEAD_QUEUE]),
                          metadata={"description": f"the dead-letter queue (only {t.DEAD_QUEUE})"})
    limit = fields.Integer(load_default=dead_letters.DEFAULT_LIMIT,
                           validate=validate.Range(1, dead_letters.MAX_LIMIT))
    cursor = fields.String(metadata={"description": "next_cursor of the previous page"})
    all = fields.Boolean(load_default=False, metadata={"description": "re-driven ones too"})


class RequeueRecordSchema(Schema):
    by = fields.String()
    at = fields.String()


class DeadLetterSchema(Schema):
    id = fields.String(required=True)
    message_id = fields.String(allow_none=True)
    code = fields.String(required=True)
    detail = fields.String(required=True)
    first_seen = fields.String(required=True)
    attempts = fields.Integer(required=True, metadata={"description": "times dead-lettered"})
    open = fields.Boolean(metadata={"description": "not re-driven since last dead-lettered"})
    user_id = fields.String(allow_none=True)
    routing_key = fields.String()
    dead_lettered_at = fields.String(allow_none=True)
    requeues = fields.List(fields.Nested(RequeueRecordSchema))
    body = fields.String(required=True, allow_none=True,
                         metadata={"description": "null when too large to store (over 256 KiB)"})
    body_encoding = fields.String(allow_none=True,
                                  metadata={"description": '"base64" when the body is not UTF-8'})
    body_length = fields.Integer(allow_none=True, metadata={"description": "bytes"})
    body_sha256 = fields.String(allow_none=True)
    published = fields.Boolean(allow_none=True, metadata={
        "description": "true: the broker confirmed the letter on towns.inbound.dead; false: "
                       "given up, only here (publish_error says why); null: not yet, or unknown"})
    publish_error = fields.String(allow_none=True)
    headers_dropped = fields.Boolean(metadata={
        "description": "the letter went without the publisher's headers (too large to send again)"})


class DeadLettersPageSchema(Schema):
    items = fields.List(fields.Nested(DeadLetterSchema), required=True)
    next_cursor = fields.String(allow_none=True, required=True)


class RequeueSchema(Schema):
    ids = fields.List(fields.UUID(), metadata={"description": "dead letter ids"})
    all = fields.Boolean(metadata={"description": f"true: the open dead letters, the first "
                                                  f"{MAX_BULK} (or limit) in the order recorded"})
    code = fields.String(metadata={"description": "with all: only those dead-lettered with this code"})
    type = fields.String(metadata={"description": "with all: only this event type (routing key)"})
    ref = fields.String(metadata={"description": "with all: only this application_ref"})
    call = fields.String(metadata={"description": "with all: only this call_id"})
    user = fields.String(metadata={"description": "with all: only those published by this user"})
    since = fields.String(metadata={"description": f"with all: {INSTANTS['since']}"})
    until = fields.String(metadata={"description": f"with all: {INSTANTS['until']}"})
    limit = fields.Integer(metadata={"description": f"with all: at most this many (1-{MAX_BULK})"})
    reason = fields.String(metadata={"description": "why: recorded with the operator and the "
                                                    "time as an event of the log (≤ 1,000)"})


class RequeuedSchema(Schema):
    requeued = fields.Integer(required=True)
    ids = fields.List(fields.String(), metadata={"description": "the letters re-driven"})
    redrive_id = fields.String(allow_none=True, metadata={
        "description": "the re-drive as recorded: GET /api/v1/ops/redrives/{redrive_id} follows "
                       "what became of its letters; null when nothing was re-driven"})
    limit = fields.Integer(allow_none=True, metadata={"description": "the bound applied (with all)"})
    remaining = fields.Integer(allow_none=True, metadata={
        "description": "with all: open letters matching that this request left (over the limit; "
                       "counted up to the scan bound)"})
    filter = fields.Dict(allow_none=True, metadata={"description": "with all: the criteria applied"})


_UNAVAILABLE = "unavailable: RabbitMQ is not configured or failed; the message says which"


@blp.route("/api/v1/ops/dead-letters")
@require_roles(OPERATOR)
@blp.arguments(DeadLetterQuerySchema, location="query", as_kwargs=True)
@blp.response(200, DeadLettersPageSchema, description="a page of dead letters")
def list_dead_letters(limit: int, all: bool, cursor: str | None = None, queue: str | None = None,
                      **criteria: str):
    """Dead letters

    Open ones (not re-driven since last dead-lettered) unless ``all=true``, in the order first
    recorded, ``limit`` a page; pass ``next_cursor`` as ``cursor`` for the next. ``code``,
    ``type``, ``ref``, ``call``, ``user``, ``since`` and ``until`` narrow them (all must hold),
    as they narrow a bulk re-drive.
    """
    where = letter_filter(criteria)
    try:
        return dead_letters.page(InboundRecords(current_towns()), not all, limit, cursor,
                                 where).as_dict()
    except dead_letters.UnknownCursor as error:
        raise SchemaInvalid(str(error), {"cursor": "names no dead letter"}) from None


@blp.route("/api/v1/ops/dead-letters/requeue", methods=["POST"])
@require_roles(OPERATOR)
@blp.doc(requestBody={
    "required": True,
    "description": '{"ids": [...]} or {"all": true}; with all, a filter (code, type, ref, call, '
                   'user, since, until: all must hold) and a limit',
    "content": {"application/json": {"schema": RequeueSchema}},
})
@blp.response(200, RequeuedSchema, description="the letters were re-driven")
@blp.alt_response(400, schema=ErrorSchema,
                  description="malformed: not a UTF-8 JSON object of at most 256 KiB")
@blp.alt_response(422, schema=ErrorSchema, description="schema_invalid: neither ids nor all, an unknown id, "
                                                       "or a filter value that is not valid")
@blp.alt_response(503, schema=ErrorSchema, description=_UNAVAILABLE)
def requeue_dead_letters():
    """Re-drive dead letters

    Publishes each chosen letter's stored body to towns.inbound, takes its copies off
    towns.inbound.dead and records the calling operator and the time on the letter. With
    ``all``, the open letters a filter matches (``GET /api/v1/ops/dead-letters/count`` says how
    many), at most 500 per request; ``remaining`` says how many more match.
    """
    from adapters.amqp.redrive import RedriveError, requeue

    body = decode(request_body(current_principal()))  # malformed as for an event
    ids, all_open, where = _requeue_request(body)
    reason = body.get("reason")
    limit = min(body.get("limit") or MAX_BULK, MAX_BULK) if all_open else None
    records = InboundRecords(current_towns())
    for i, letter_id in enumerate(ids or []):
        letter = records.letter(letter_id)
        if not isinstance(letter, DeadLetter):
            raise SchemaInvalid(f"no dead letter has the id {letter_id}",
                                {f"ids.{i}": "no dead letter has this id"})
        if letter.body is None:
            raise SchemaInvalid(f"the body of dead letter {letter_id} is not stored (over 256 KiB)",
                                {f"ids.{i}": "its body is not stored: it cannot be re-driven"})
    url = t.amqp_url()
    if not url:
        return error_response("unavailable", "TOWNS_AMQP_URL is not set: re-driving needs RabbitMQ", 503)
    action_id = uuid4()
    try:
        done = requeue(records, url, ids, all_open, current_principal().name, reason,
                       limit=limit, action_id=action_id, where=where)
    except RedriveError as error:
        log.warning("re-drive by %s failed: %s", current_principal().name, error)
        return error_response("unavailable", str(error), 503)
    answer = {"requeued": len(done), "ids": [str(letter.id) for letter in done],
              "redrive_id": str(action_id) if done else None}
    if all_open:
        remaining = dead_letters.count(records, where)["open"] if len(done) >= limit else 0
        answer.update(limit=limit, remaining=remaining, filter=where.as_dict() if where else None)
    return answer


def _requeue_request(body: Any) -> tuple[list[UUID] | None, bool, LetterFilter | None]:
    """(ids, all, filter) of a requeue body, or SchemaInvalid naming what is wrong."""
    if not isinstance(body, dict):
        raise Malformed('the body is not a JSON object: {"ids": [...]} or {"all": true}')
    unknown = sorted(set(body) - {"ids", "all", "reason", "limit", *NAMES})
    if unknown:
        raise SchemaInvalid(f"unknown fields: {', '.join(unknown)}",
                            {name: "unknown field" for name in unknown})
    reason = body.get("reason")
    if reason is not None and (not isinstance(reason, str) or len(reason) > 1000):
        raise SchemaInvalid("reason is a text of at most 1,000 characters",
                            {"reason": "a text of at most 1,000 characters"})
    if ("ids" in body) == ("all" in body):
        raise SchemaInvalid('send either {"ids": [...]} or {"all": true}',
                            {"_": "exactly one of ids and all"})
    if "all" in body:
        if body["all"] is not True:
            raise SchemaInvalid('"all" re-drives every open dead letter and must be true',
                                {"all": "must be true; name letters with ids"})
        where = letter_filter(body)
        limit = body.get("limit")
        if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int)
                                  or not 1 <= limit <= MAX_BULK):
            raise SchemaInvalid(f"limit is a whole number from 1 to {MAX_BULK}",
                                {"limit": f"a whole number from 1 to {MAX_BULK}"})
        return None, True, where
    for name in ("limit", *NAMES):
        if name in body:
            raise SchemaInvalid(f"{name} goes with all, not with ids", {name: "only with all"})
    ids = body["ids"]
    if not isinstance(ids, list) or not ids:
        raise SchemaInvalid("ids is a non-empty list of dead letter ids",
                            {"ids": "a non-empty list of dead letter ids"})
    try:
        return RequeueSchema().load({"ids": ids})["ids"], False, None
    except ValidationError as error:
        bad = error.messages.get("ids", {})
        details = {f"ids.{i}": "not a dead letter id (a UUID)" for i in bad}
        raise SchemaInvalid("some ids are not dead letter ids", details) from None
