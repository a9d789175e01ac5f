"""Stored events decoded for reading, and checked to be their own encoding: the library's
mapper in one pass where the bytes plainly allow it.

``Reader.decode_stored`` wants an event only if encoding it again gives back exactly the stored
bytes. The library's way is two passes through its transcoder (a decode that calls back into
Python for every JSON object, an encode that calls back for every datetime). Where the mapper
is the library's own JSON transcoder with its ISO datetimes, no cipher and no compressor, and
the event's class has no upcasting, ``StoredDecoder.plain`` reads the bytes with orjson and
encodes them again with the transcoder's own settings, without call-backs: when that gives back
the stored bytes, the record's two record times are its only transcoded objects (each an ISO
datetime in its one form) and the event built from it is the one the mapper builds, field for
field. Anything else (another encoding, a third transcoded object, bytes orjson refuses) goes the
library's way, which decides, so an answer never differs from it (a property test holds the two
paths to that on damaged bytes). ``plain_hashed`` also gives the event's ``computed_hash()``,
from the stored text of its times (what replay and verification check the chain with).

Where the bytes need not be checked (the deadline check folding its candidates),
``StoredDecoder.event`` is ``mapper.to_domain_event`` read with orjson where that plainly reads
them as the transcoder does (no escapes, no long numbers: ``long_number``).
"""

from __future__ import annotations

import json
from datetime import datetime
from json.encoder import c_make_encoder, encode_basestring
from typing import Any

from eventsourcing.persistence import DatetimeAsISO, JSONTranscoder, Mapper, find_id_convertor
from eventsourcing.utils import resolve_topic
from orjson import loads as orjson_loads

from domain.applications import Application
from domain.event_fields import event_content
from domain.hashing import chain

_PLAIN = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False)
"""The library's transcoder's encoder (eventsourcing 9.5.6, ``JSONTranscoder``) without its
call-back, for values that hold no object of a registered type."""
_C_PLAIN = (None if c_make_encoder is None else
            c_make_encoder(None, _PLAIN.default, encode_basestring, None, ":", ",", False, False,
                           True))
"""``_PLAIN``'s own C encoder, made once instead of at every call (without the check for
circular references, which parsed JSON cannot hold): the same text."""


def _plain_text(value: Any) -> str:
    return _PLAIN.encode(value) if _C_PLAIN is None else "".join(_C_PLAIN(value, 0))


_STAMPS = ("timestamp", "occurred_at")
_TYPE = b'"_type_"'
_STAMP_KEYS = ["_type_", "_data_"]
_DIGITS = bytes(48 if 48 <= b <= 57 else 32 for b in range(256))
_LONG_RUN = b"0" * 19
_IN_NUMBER = frozenset(b"0123456789.eE+-")
"""What a JSON number is made of."""
_BEFORE_VALUE = frozenset(b":,[")
"""What may stand before a value, blanks aside (or nothing: the document's start)."""
_BLANK = frozenset(b" \t\n\r\x0b\x0c")


def long_number(state: bytes) -> bool:
    """Whether a run of 19 digits or more may be part of a number in the JSON ``state``: the
    run lies in a stretch of what numbers are made of (digits, ``.``, ``e``, ``E``, ``+``,
    ``-``) that starts the document or a value (after ``:``, ``,`` or ``[`` and any blanks).
    An integer past 64 bits orjson reads as a float where Python's json keeps it whole; long
    fractions and exponents are left to json as before. Runs of digits inside strings (the
    zeros of a first event's previous hash, a hex hash's digits, also after its ``e``) are not
    numbers: a quote or a letter stands before their stretch. The runs are found in the state
    with every digit mapped to "0" and every other byte to a space, many times faster than by
    a regular expression."""
    digits = state.translate(_DIGITS)
    at = digits.find(_LONG_RUN)
    while at != -1:
        before = at - 1
        while before >= 0 and state[before] in _IN_NUMBER:
            before -= 1
        while before >= 0 and state[before] in _BLANK:
            before -= 1
        if before < 0 or state[before] in _BEFORE_VALUE:
            return True
        end = digits.find(b" ", at)
        if end == -1:
            return False
        at = digits.find(_LONG_RUN, end)
    return False


_RESERVED = frozenset({"originator_id", "originator_version", "class_version"})
"""Keys the mapper sets or takes away: stored bytes that hold one are never its own encoding."""


class StoredDecoder:
    """Decodes stored events as ``mapper`` does, where their bytes plainly are their own
    encoding (``plain``)."""

    def __init__(self, mapper: Mapper) -> None:
        self.mapper = mapper
        transcoder = mapper.transcoder
        self.fast = (
            type(mapper).to_domain_event is Mapper.to_domain_event
            and mapper.cipher is None and mapper.compressor is None
            and type(transcoder) is JSONTranscoder
            and type(transcoder.names.get("datetime_iso")) is DatetimeAsISO
            and type(transcoder.types.get(datetime)) is DatetimeAsISO
        )

    def event(self, record: Any) -> Any:
        """``mapper.to_domain_event(record)``: read with orjson where that plainly gives what
        the transcoder gives (``_read``), else by the mapper (which also raises what it raises)."""
        if self.fast:
            event = self._read(record)
            if event is not None:
                return event
        return self.mapper.to_domain_event(record)

    def plain(self, record: Any) -> Any:
        """The event the mapper decodes ``record`` to, when its bytes plainly are that event's
        own encoding; None when that is not plain (the mapper then decides)."""
        found = self._plain(record) if self.fast else None
        return None if found is None else found[0]

    def plain_hashed(self, record: Any) -> tuple[Any, str | None] | None:
        """``plain``, with what the event's ``computed_hash()`` gives, computed from the
        stored times' text (``None`` where it is not plainly an application event's: then
        ``computed_hash`` says, or raises)."""
        found = self._plain(record) if self.fast else None
        if found is None:
            return None
        event, stamps = found
        cls = type(event)
        if not (issubclass(cls, Application.Event)
                and cls.computed_hash is Application.Event.computed_hash
                and cls.content is Application.Event.content):
            return event, None
        try:
            content = event_content(cls, str(event.originator_id), event.originator_version,
                                    stamps[0], stamps[1], event.actor, event.message_id,
                                    event.data, getattr(event, "originator_topic", None))
            return event, chain(event.prev_hash, content)
        except Exception:  # noqa: BLE001 - computed_hash raises it again, in its place
            return event, None

    def _plain(self, record: Any) -> tuple[Any, list[str]] | None:
        """The event and its two record times as stored, when its bytes plainly are its own
        encoding; None when that is not plain."""
        try:
            cls = resolve_topic(record.topic)
            if getattr(cls, "class_version", 1) != 1:
                return None
            state = record.state
            if state.count(_TYPE) != len(_STAMPS):
                return None
            fields = orjson_loads(state)
            if type(fields) is not dict or not _RESERVED.isdisjoint(fields) \
                    or _plain_text(fields).encode("utf-8") != state:
                return None
            texts = []
            for name in _STAMPS:
                stamp = fields[name]
                if type(stamp) is not dict or list(stamp) != _STAMP_KEYS \
                        or stamp["_type_"] != "datetime_iso":
                    return None
                text = stamp["_data_"]
                moment = datetime.fromisoformat(text)
                if moment.isoformat() != text:
                    return None
                fields[name] = moment
                texts.append(text)
            fields["originator_id"] = find_id_convertor(cls, type(record.originator_id))(
                record.originator_id)
            fields["originator_version"] = record.originator_version
        except Exception:  # noqa: BLE001 - anything amiss: the mapper says what
            return None
        event = object.__new__(cls)
        object.__setattr__(event, "__dict__", fields)
        return event, texts

    def _read(self, record: Any) -> Any:
        """The event the mapper decodes ``record`` to, without encoding it again; None where
        orjson might read the bytes otherwise than the transcoder: an escape (so a key
        ``_type_`` can be written only as it is, and found by counting), a run of 19 digits
        (``long_number``), a transcoded object other
        than the two record times, a key the mapper sets or takes away. orjson refuses what
        JSON does not allow (NaN, a lone surrogate, a number past a double): those go the
        mapper's way too."""
        try:
            cls = resolve_topic(record.topic)
            if getattr(cls, "class_version", 1) != 1:
                return None
            state = record.state
            if state.count(_TYPE) != len(_STAMPS) or b"\\u" in state \
                    or long_number(state):
                return None
            fields = orjson_loads(state)
            if type(fields) is not dict or not _RESERVED.isdisjoint(fields):
                return None
            for name in _STAMPS:
                stamp = fields[name]
                if type(stamp) is not dict or len(stamp) != 2 \
                        or stamp.get("_type_") != "datetime_iso" or "_data_" not in stamp \
                        or type(stamp["_data_"]) is not str:
                    return None
                fields[name] = datetime.fromisoformat(stamp["_data_"])
            fields["originator_id"] = find_id_convertor(cls, type(record.originator_id))(
                record.originator_id)
            fields["originator_version"] = record.originator_version
        except Exception:  # noqa: BLE001 - anything amiss: the mapper says what
            return None
        event = object.__new__(cls)
        object.__setattr__(event, "__dict__", fields)
        return event
