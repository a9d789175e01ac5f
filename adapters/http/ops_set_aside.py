"""``GET /api/v1/ops/set-aside``: the events the read models set aside, a page at a time, part of
the operators' area (``adapters.http.ops``)."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from adapters.http.auth import require_roles
from adapters.http.cursor import CursorField, encode_cursor
from adapters.http.ops_blueprint import blp, ops_runner
from adapters.ops import set_aside as set_aside_page
from domain.errors import SchemaInvalid
from domain.principals import OPERATOR
from projections.registry import ALL as PROJECTIONS


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
