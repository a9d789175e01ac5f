"""Canonical encoding and the hash chains that make the history tamper-evident.

Each event's hash is SHA-256 over the previous hash and the event's canonical content (sorted
keys, no white space, UTF-8), so changing any stored byte of any event breaks the chain at that
event or the next.

The canonical bytes are written by orjson where they are plainly Python's encoder's
(``fast_canonical``: about half its time on the bench's messages), else by Python's encoder,
which stays the reference (``slow_canonical``); tests hold the two to the same bytes.
"""

from __future__ import annotations

import hashlib
import json
import sys
from datetime import datetime
from typing import Any
from uuid import UUID

import orjson

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
    JSON and UTF-8 cannot hold (a number beyond a double, a lone surrogate) is a ValueError.

    Written by orjson where its bytes are ``_CANONICAL``'s (``fast_canonical``), else by
    ``_CANONICAL`` itself, which also raises what it raised before."""
    fast = fast_canonical(value)
    return fast if fast is not None else slow_canonical(value)


def slow_canonical(value: Any) -> bytes:
    """``canonical`` by Python's encoder alone: the reference the fast path is held to."""
    return _CANONICAL.encode(value).encode("utf-8")


_FAST_OPTIONS = (orjson.OPT_SORT_KEYS | orjson.OPT_PASSTHROUGH_DATETIME
                 | orjson.OPT_PASSTHROUGH_SUBCLASS | orjson.OPT_PASSTHROUGH_DATACLASS)
_MAX = sys.float_info.max
_CANONICAL_LEAVES = frozenset({str, int, bool, type(None), datetime, UUID})


def plain(value: Any, leaves: frozenset = _CANONICAL_LEAVES) -> bool:
    """Whether ``value`` holds only dicts with (exact) string keys, lists, floats that orjson
    writes as Python's ``repr`` does, and values of the exact types ``leaves`` (without
    recursion: any depth). orjson and Python write every finite double alike, the shortest
    digits that read back the same, except below 1e-4 (Python's 1e-05, orjson's 0.00001):
    zero and magnitudes from 1e-4 up are plain; NaN, the infinities and the rest are not."""
    stack = [value]
    pop, push, text = stack.pop, stack.append, str
    while stack:  # leaves are checked where they are found, containers pushed to look into
        item = pop()
        kind = type(item)
        if kind is dict:
            for key, member in item.items():
                if type(key) is not text:
                    return False
                if type(member) is text or type(member) in leaves:  # most are strings
                    continue
                push(member)
        elif kind is list:
            for member in item:
                if type(member) is text or type(member) in leaves:
                    continue
                push(member)
        elif kind is float:
            if not 1e-4 <= abs(item) <= _MAX and item != 0.0:
                return False
        elif kind is not text and kind not in leaves:
            return False
    return True


def _fast_default(value: Any) -> Any:
    if type(value) is datetime:
        return value.isoformat()
    raise TypeError  # not reached for plain values


def fast_canonical(value: Any) -> bytes | None:
    """``canonical(value)`` by orjson, or None where its bytes might differ from Python's
    encoder's and that must decide. orjson is given only ``plain`` values, where the two agree:
    dicts with string keys (both sort them by code point), lists, strings (both escape the
    same characters the same way and write the rest as UTF-8), integers (orjson refuses those
    past 64 bits), booleans, None, UUIDs (both write ``str(uuid)``), floats of ``plain``
    magnitudes and exact datetimes (``isoformat``, through the call-back). orjson refuses lone
    surrogates: Python's encoder then raises as it always did."""
    if not plain(value):
        return None
    try:
        return orjson.dumps(value, default=_fast_default, option=_FAST_OPTIONS)
    except TypeError:  # orjson.JSONEncodeError
        return None


def digest(value: Any) -> str:
    return hashlib.sha256(canonical(value)).hexdigest()


def chain(previous: str, content: Any) -> str:
    """The hash of ``content`` chained after ``previous``."""
    return hashlib.sha256(previous.encode("ascii") + b"\n" + canonical(content)).hexdigest()
