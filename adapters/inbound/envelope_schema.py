"""The envelope of an inbound event (CONTRACT.md §2) and its actor, with ``_Schema``, the base
of every inbound schema (``adapters.inbound.schemas`` checks messages against them)."""

from __future__ import annotations

import re
from typing import Any

from marshmallow import EXCLUDE, Schema, ValidationError, fields, validate, validates_schema

from adapters.inbound.schema_fields import NAME_CHARS, identifier, one_of, optional_text
from domain import lifecycle
from domain.jurisdictions import CITY_CODES
from domain.principals import LOCAL_ROLES, ROLES

ENVELOPE_ROLES: tuple[str, ...] = ROLES


class _Schema(Schema):
    """Unknown fields are dropped, at every level; a non-object says so plainly."""

    class Meta:
        unknown = EXCLUDE

    error_messages = {"type": "must be an object"}


class ActorSchema(_Schema):
    role = one_of(ENVELOPE_ROLES, required=True)
    id = identifier(required=True)
    organisation = optional_text(NAME_CHARS)
    city = one_of(CITY_CODES, allow_none=True, load_default=None)

    @validates_schema
    def _city_for_local_roles(self, data: dict, **kwargs: Any) -> None:
        if data.get("role") in LOCAL_ROLES and data.get("city") is None:
            raise ValidationError(f"required when the role is {data['role']}", "city")


UNREADABLE_REF = re.compile(r"(?s)\.\.?\Z|.*/history\Z")


class EnvelopeSchema(_Schema):
    message_id = identifier(required=True)
    type = fields.String(required=True, validate=validate.Length(min=1))  # see the module's doc
    occurred_at = fields.AwareDateTime(
        required=True,
        error_messages={
            "invalid": "Not a valid ISO 8601 datetime.",
            "invalid_awareness": "needs an offset, such as +08:00",
        },
    )
    application_ref = identifier(required=True)
    call_id = identifier(required=True)
    actor = fields.Nested(ActorSchema, required=True)
    payload = fields.Dict(required=True, error_messages={"invalid": "must be an object"})

    @validates_schema
    def _readable_ref(self, data: dict, **kwargs: Any) -> None:
        """A new application's ref must be one a reading's path can name: the ref is the rest
        of the path, a last /history names the history, and browsers take . and .. for the
        path's own segments. Applications recorded before the rule keep their refs."""
        ref = data.get("application_ref", "")
        if data.get("type") == lifecycle.SUBMIT and UNREADABLE_REF.match(ref):
            raise ValidationError("may not be . or .., nor end in /history", "application_ref")
