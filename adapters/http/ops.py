"""``/api/v1/ops/*``: the operators' area (CONTRACT.md §3). Only operators use it; they read no
application data here, only queues, projections' lag, parked messages and dead letters.

- ``GET /api/v1/ops/queues``: the queue view (``adapters.ops.queues``);
- ``GET /api/v1/ops/dead-letters?queue=&limit=&cursor=&all=``: dead letters a page at a time,
  open ones unless ``all=true``;
- ``POST /api/v1/ops/dead-letters/requeue`` with ``{"ids": [...]}`` or ``{"all": true}``:
  re-drives them (``adapters.amqp.redrive.requeue``) as the calling operator; ``{"requeued"}``;
- ``GET /api/v1/ops/set-aside?projection=&limit=&cursor=&all=``: the events the read models
  set aside, a page at a time, open ones unless ``all=true`` (where and why, not their data).

Where the figures come from is read per request: ``TOWNS_AMQP_URL``, ``TOWNS_RABBITMQ_API``, and
the app's read models (``context.current_runner``) for the projections' lag.
"""

from __future__ import annotations

import logging
from typing import Any
from uuid import UUID

from flask_smorest import Blueprint
from marshmallow import Schema, ValidationError, fields, validate

from adapters.amqp import topology as t
from adapters.bootstrap import DatabaseUrlError
from adapters.http.auth import current_principal, require_roles
from adapters.http.context import current_runner, current_towns
from adapters.http.cursor import CursorField, encode_cursor
from adapters.http.errors import ErrorSchema, error_response
from adapters.http.events import request_body
from adapters.store.inbound_records import InboundRecords
from adapters.inbound.ingest import decode
from adapters.ops import dead_letters, queues
from adapters.ops import set_aside as set_aside_page
from domain.errors import Malformed, SchemaInvalid
from domain.inbound import DeadLetter
from domain.principals import OPERATOR
from projections.registry import ALL as PROJECTIONS
from projections.runner import ProjectionRunner

log = logging.getLogger("towns.http")

blp = Blueprint("ops", __name__,
                description="Operators: queues, projections' lag and set-aside events, dead letters")


def ops_runner() -> ProjectionRunner | None:
    """The app's read models' runner; None for a service whose store has no database URL (in
    memory), whose views then show no projections."""
    try:
        return current_runner()
    except DatabaseUrlError:
        return None


# -- schemas (the OpenAPI document; the answers are built as dicts) ------------------------------


class QueueSchema(Schema):
    name = fields.String(required=True)
    ready = fields.Integer(allow_none=True, metadata={"description": "messages ready"})
    unacknowledged = fields.Integer(allow_none=True, metadata={"description": "null from AMQP"})
    consumers = fields.Integer(allow_none=True)
    publish_rate = fields.Float(allow_none=True, metadata={"description": "messages/s; null from AMQP"})
    deliver_rate = fields.Float(allow_none=True, metadata={"description": "messages/s; null from AMQP"})
    ack_rate = fields.Float(allow_none=True, metadata={"description": "messages/s; null from AMQP"})
    exists = fields.Boolean(allow_none=True, metadata={"description": "null when unknown"})


class ProjectionLagSchema(Schema):
    name = fields.String(required=True)
    position = fields.Integer(required=True)
    lag = fields.Integer(required=True, metadata={"description": "events not projected yet"})
    head = fields.Integer(metadata={"description": "the log's last position"})
    set_aside = fields.Integer(metadata={"description": "events set aside and not taken since"})


class QueueViewSchema(Schema):
    source = fields.String(required=True, validate=validate.OneOf([queues.MANAGEMENT_API, queues.AMQP]))
    queues = fields.List(fields.Nested(QueueSchema), required=True)
    projections = fields.List(fields.Nested(ProjectionLagSchema), required=True)
    parked = fields.Integer(required=True, metadata={"description": "messages parked now"})
    dead_letters_open = fields.Integer(metadata={"description": "dead letters not re-driven"})
    vhost = fields.String(allow_none=True)
    note = fields.String(allow_none=True, metadata={"description": "what the view could not tell, and why"})


class DeadLetterQuerySchema(Schema):
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
    all = fields.Boolean(metadata={"description": "true: every open dead letter"})
    reason = fields.String(metadata={"description": "why: recorded with the operator and the "
                                                    "time as an event of the log (≤ 1,000)"})


class RequeuedSchema(Schema):
    requeued = fields.Integer(required=True)
    ids = fields.List(fields.String(), metadata={"description": "the letters re-driven"})


class SetAsideQuerySchema(Schema):
    projection = fields.String(validate=validate.OneOf([p.name for p in PROJECTIONS]),
                               metadata={"description": "one read model (default: all)"})
    limit = fields.Integer(load_default=set_aside_page.DEFAULT_LIMIT,
                           validate=validate.Range(1, set_aside_page.MAX_LIMIT))
    cursor = CursorField(metadata={"description": "next_cursor of the previous page"})
    all = fields.Boolean(load_default=False, metadata={"description": "retried ones too"})


class SetAsideSchema(Schema):
    name = fields.String(required=True, metadata={"description": "the read model"})
    position = fields.Integer(required=True, metadata={"description": "the event's log position"})
    topic = fields.String(required=True)
    originator_id = fields.String(allow_none=True, metadata={"description": "the application id"})
    originator_version = fields.Integer(allow_none=True)
    reason = fields.String(required=True,
                           metadata={"description": "why the view could not take it"})
    set_aside_at = fields.String(required=True)
    retried_at = fields.String(allow_none=True, metadata={"description": "when a retry took it"})
    attempts = fields.Integer(required=True, metadata={"description": "times it failed"})
    open = fields.Boolean(required=True, metadata={"description": "still set aside"})


class SetAsidePageSchema(Schema):
    items = fields.List(fields.Nested(SetAsideSchema), required=True)
    next_cursor = fields.String(allow_none=True, required=True)


_UNAVAILABLE = "unavailable: RabbitMQ is not configured or failed; the message says which"


# -- views ----------------------------------------------------------------------------------


@blp.route("/api/v1/ops/queues")
@require_roles(OPERATOR)
@blp.response(200, QueueViewSchema, description="the queue view")
def get_queues():
    """The queue view

    Ready, unacknowledged, consumers and rates of every queue of the service, from RabbitMQ's
    management API or, when it does not answer, from AMQP (ready and consumers only; the note
    says why); each projection's lag; parked messages; open dead letters.
    """
    return queues.queue_view(t.amqp_url(), queues.api_url(), ops_runner(),
                             InboundRecords(current_towns()))


@blp.route("/api/v1/ops/dead-letters")
@require_roles(OPERATOR)
@blp.arguments(DeadLetterQuerySchema, location="query", as_kwargs=True)
@blp.response(200, DeadLettersPageSchema, description="a page of dead letters")
def list_dead_letters(limit: int, all: bool, cursor: str | None = None, queue: str | None = None):
    """Dead letters

    Open ones (not re-driven since last dead-lettered) unless ``all=true``, in the order first
    recorded, ``limit`` a page; pass ``next_cursor`` as ``cursor`` for the next.
    """
    try:
        return dead_letters.page(InboundRecords(current_towns()), not all, limit, cursor).as_dict()
    except dead_letters.UnknownCursor as error:
        raise SchemaInvalid(str(error), {"cursor": "names no dead letter"}) from None


@blp.route("/api/v1/ops/dead-letters/requeue", methods=["POST"])
@require_roles(OPERATOR)
@blp.doc(requestBody={
    "required": True,
    "description": '{"ids": [...]} or {"all": true}',
    "content": {"application/json": {"schema": RequeueSchema}},
})
@blp.response(200, RequeuedSchema, description="the letters were re-driven")
@blp.alt_response(400, schema=ErrorSchema,
                  description="malformed: not a UTF-8 JSON object of at most 256 KiB")
@blp.alt_response(422, schema=ErrorSchema, description="schema_invalid: neither ids nor all, or an unknown id")
@blp.alt_response(503, schema=ErrorSchema, description=_UNAVAILABLE)
def requeue_dead_letters():
    """Re-drive dead letters

    Publishes each chosen letter's stored body to towns.inbound, takes its copies off
    towns.inbound.dead and records the calling operator and the time on the letter.
    """
    from adapters.amqp.redrive import RedriveError, requeue

    body = decode(request_body(current_principal()))  # malformed as for an event
    ids, all_open = _requeue_request(body)
    reason = body.get("reason")
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
    try:
        done = requeue(records, url, ids, all_open, current_principal().name, reason)
    except RedriveError as error:
        log.warning("re-drive by %s failed: %s", current_principal().name, error)
        return error_response("unavailable", str(error), 503)
    return {"requeued": len(done), "ids": [str(letter.id) for letter in done]}


@blp.route("/api/v1/ops/set-aside")
@require_roles(OPERATOR)
@blp.arguments(SetAsideQuerySchema, location="query", as_kwargs=True)
@blp.response(200, SetAsidePageSchema, description="a page of set-aside events")
def list_set_aside(limit: int, all: bool, cursor: tuple[str, str] | None = None,
                   projection: str | None = None):
    """Events set aside by the read models

    Events a read model could not take, which it set aside to go on (where each is, why, how
    many tries), open ones unless ``all=true``, in (projection, position) order, ``limit`` a
    page; pass ``next_cursor`` as ``cursor`` for the next. ``towns projections retry`` tries
    them again.
    """
    after = None
    if cursor is not None:
        if not cursor[1].isdigit():
            raise SchemaInvalid("not a cursor of this list", {"cursor": "not a cursor of this list"})
        after = (cursor[0], int(cursor[1]))
    found = set_aside_page.page(ops_runner(), projection, not all, limit, after)
    last = found["next"]
    return {"items": found["items"],
            "next_cursor": encode_cursor((last[0], str(last[1]))) if last else None}


def _requeue_request(body: Any) -> tuple[list[UUID] | None, bool]:
    """(ids, all) of a requeue body, or SchemaInvalid naming what is wrong."""
    if not isinstance(body, dict):
        raise Malformed('the body is not a JSON object: {"ids": [...]} or {"all": true}')
    unknown = sorted(set(body) - {"ids", "all", "reason"})
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
        return None, True
    ids = body["ids"]
    if not isinstance(ids, list) or not ids:
        raise SchemaInvalid("ids is a non-empty list of dead letter ids",
                            {"ids": "a non-empty list of dead letter ids"})
    try:
        return RequeueSchema().load({"ids": ids})["ids"], False
    except ValidationError as error:
        bad = error.messages.get("ids", {})
        details = {f"ids.{i}": "not a dead letter id (a UUID)" for i in bad}
        raise SchemaInvalid("some ids are not dead letter ids", details) from None
