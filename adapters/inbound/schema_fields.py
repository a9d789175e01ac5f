"""The kinds of field the inbound schemas (``adapters.inbound.schemas``) are made of, and their bounds.

JSON is taken as it is: a boolean is ``true`` or ``false``, a number a finite JSON number, a
count an integer ≥ 0, never a string that looks like one. Identifiers (CONTRACT.md §2) hold
1-``ID_CHARS`` characters, no control character and no white space at either end; names at most
``NAME_CHARS``, free text at most ``TEXT_CHARS``. Each kind that the schema compiler
(``adapters.inbound.schema_compiler``) cannot read from marshmallow's own classes registers how it
checks a valid value.
"""

from __future__ import annotations

import math
import re
from typing import Any

from marshmallow import ValidationError, fields, validate

from adapters.inbound.schema_compiler import checks, compiles, finite_number, json_boolean

ID_CHARS = 128
"""An identifier's length, at most (CONTRACT.md §2)."""
NAME_CHARS = 200
"""A name's length, at most: a town, an organisation, a project, a panel member, a decision."""
TEXT_CHARS = 10_000
"""Free text's length, at most: a reason, notes, findings."""
PANEL_MEMBERS = 50
PROJECTS = 100


# ---------------------------------------------------------------------------------------------
# Fields


class StrictBoolean(fields.Boolean):
    """JSON ``true`` or ``false`` only: no ``"yes"``, ``1`` or ``"true"``."""

    def _deserialize(self, value, attr, data, **kwargs) -> bool:
        if value is True or value is False:
            return value
        raise self.make_error("invalid")


class JsonNumber(fields.Field):
    """A finite JSON number, kept as the ``int`` or ``float`` it arrived as; no strings, no bools."""

    default_error_messages = {"invalid": "Not a valid number."}

    def _deserialize(self, value, attr, data, **kwargs) -> int | float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise self.make_error("invalid")
        if isinstance(value, float) and not math.isfinite(value):
            raise self.make_error("invalid")
        return value


compiles(StrictBoolean)(lambda field: json_boolean)
compiles(JsonNumber)(lambda field: finite_number)


_CONTROL = re.compile("[\x00-\x1f\x7f]")


class Identifier(validate.Validator):
    """No control character (U+0000-U+001F, U+007F) and no white space at either end."""

    control = "must hold no control character (U+0000-U+001F, U+007F)"
    padded = "must not begin or end with white space"

    def __call__(self, value: str) -> str:
        if _CONTROL.search(value):
            raise ValidationError(self.control)
        if value != value.strip():
            raise ValidationError(self.padded)
        return value


@checks(Identifier)
def _identifier(validator: Identifier):
    def plain(value: str) -> bool:
        # isprintable() is False for every control character and every white space but " ",
        # and strip(" ") gives back the very string when there is nothing to strip: two C calls
        # answer for nearly every identifier; the rest take the exact test.
        if value.isprintable():
            return value.strip(" ") is value
        return _CONTROL.search(value) is None and value == value.strip()

    return plain


def text(max_chars: int = NAME_CHARS, **kwargs: Any) -> fields.String:
    """A non-empty string of at most ``max_chars`` characters."""
    return fields.String(validate=validate.Length(min=1, max=max_chars), **kwargs)


def identifier(**kwargs: Any) -> fields.String:
    """1-``ID_CHARS`` characters, no control character, no white space at either end."""
    kwargs.setdefault("metadata", {"description": Identifier.__doc__})
    return fields.String(validate=[validate.Length(min=1, max=ID_CHARS), Identifier()], **kwargs)


def one_of(choices: tuple[str, ...], **kwargs: Any) -> fields.String:
    return fields.String(validate=validate.OneOf(choices), **kwargs)


def count(**kwargs: Any) -> fields.Integer:
    """An integer ≥ 0 (a bool, a float or a string is refused)."""
    return fields.Integer(strict=True, validate=validate.Range(min=0), **kwargs)


def amount(**kwargs: Any) -> JsonNumber:
    """A number ≥ 0."""
    return JsonNumber(validate=validate.Range(min=0), **kwargs)


def must_be_true(**kwargs: Any) -> StrictBoolean:
    return StrictBoolean(validate=validate.Equal(True, error="must be true"), **kwargs)


def optional_text(max_chars: int = TEXT_CHARS) -> fields.String:
    """A string of at most ``max_chars`` characters that may be absent (then empty)."""
    return fields.String(load_default="", validate=validate.Length(max=max_chars))
