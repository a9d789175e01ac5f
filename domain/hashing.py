"""Canonical encoding and the hash chains that make the history tamper-evident.

Each event's hash is SHA-256 over the previous hash and the event's canonical content (sorted
keys, no white space, UTF-8), so changing any stored byte of any event breaks the chain at that
event or the next.
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime
from typing import Any
from uuid import UUID

GENESIS = "0" * 64


def _default(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, UUID):
        return str(value)
    raise TypeError(f"cannot encode {type(value).__name__} canonically")


_CANONICAL = json.JSONEncoder(
    sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=_default,
    check_circular=False,  # the values are parsed JSON and events: no cycles; same bytes
    allow_nan=False,  # JSON has no NaN or infinity: a ValueError, as is a lone surrogate's
)                     # UnicodeEncodeError below


def canonical(value: Any) -> bytes:
    """The one byte encoding of a JSON value that hashes and digests are computed over; what
    JSON and UTF-8 cannot hold (a number beyond a double, a lone surrogate) is a ValueError."""
    return _CANONICAL.encode(value).encode("utf-8")


def digest(value: Any) -> str:
    return hashlib.sha256(canonical(value)).hexdigest()


def chain(previous: str, content: Any) -> str:
    """The hash of ``content`` chained after ``previous``."""
    return hashlib.sha256(previous.encode("ascii") + b"\n" + canonical(content)).hexdigest()
