"""Opaque keyset cursors: the (call_id, application_ref) of the last item of a page, as URL-safe
base64 with a digest, so that a cursor changed on the way back is refused (422) rather than read
as another place in the list. The digest guards against mistakes, not against forgery: a cursor
only says where to go on, never what a caller may see."""

from __future__ import annotations

import base64
import binascii
import hashlib
import json

from marshmallow import ValidationError, fields

DIGEST_CHARS = 12


def encode_cursor(key: tuple[str, str]) -> str:
    payload = json.dumps(list(key), ensure_ascii=False, separators=(",", ":"))
    text = _digest(payload) + payload
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[str, str]:
    """The key a cursor carries; ``ValueError`` when it is not one this service gave out."""
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        digest, payload = text[:DIGEST_CHARS], text[DIGEST_CHARS:]
        key = json.loads(payload)
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise ValueError("not a cursor of this list") from None
    # No key the lists give out holds a NUL (PostgreSQL's text cannot): a cursor with one was
    # made by hand, and would reach the query only to fail there.
    valid = (isinstance(key, list) and len(key) == 2
             and all(isinstance(k, str) and "\0" not in k for k in key))
    if not valid or digest != _digest(payload):
        raise ValueError("not a cursor of this list")
    return key[0], key[1]


def _digest(payload: str) -> str:
    return hashlib.sha256(payload.encode()).hexdigest()[:DIGEST_CHARS]


class CursorField(fields.String):
    """A query argument holding a cursor; loads to its key."""

    def _deserialize(self, value, attr, data, **kwargs):
        text = super()._deserialize(value, attr, data, **kwargs)
        try:
            return decode_cursor(text)
        except ValueError as error:
            raise ValidationError(f"{error}: pass the next_cursor of the previous page") from None
