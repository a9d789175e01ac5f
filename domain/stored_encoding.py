"""Events encoded for the store: eventsourcing 9.5.6's mapper, with its JSON written by orjson
where the bytes are plainly the same.

The library's transcoder (``JSONTranscoder``: compact separators, UTF-8, keys in insertion
order, every object of a registered type written as ``{"_type_": name, "_data_": ...}`` by a
call-back into Python) costs more than the rest of an event's save. ``StoredMapper`` writes the
same bytes with orjson where the event's state plainly holds only what the two encoders write
alike (``plain``): dicts with string keys, lists, strings, integers, booleans, None, floats
(of the magnitudes both write alike, ``domain.hashing.plain``) and exact datetimes, which go through the
transcoder's own ``datetime_iso`` transcoding. Anything else (a UUID, which orjson would write
as text where the transcoder writes ``uuid_hex``; a Decimal; a subclass; NaN; a number past 64
bits; a lone surrogate) and any mapper with a cipher, a compressor or another transcoder goes
the library's way, unchanged.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import orjson
from eventsourcing.persistence import DatetimeAsISO, JSONTranscoder, Mapper, StoredEvent
from eventsourcing.utils import get_topic

from domain.hashing import plain

_OPTIONS = (orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_SUBCLASS
            | orjson.OPT_PASSTHROUGH_DATACLASS)
_LEAVES = frozenset({str, int, bool, type(None), datetime})
"""The types written as they are, besides dicts, lists and floats (``plain``): no UUID, which
the transcoder writes as ``uuid_hex`` and orjson as text."""


class StoredMapper(Mapper):
    """The library's ``Mapper``; ``to_stored_event`` writes the state with orjson where that
    gives the transcoder's bytes (``encode``), and is the library's own otherwise."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        transcoder = self.transcoder
        stamp = getattr(transcoder, "types", {}).get(datetime)
        self._fast = (
            self.cipher is None and self.compressor is None
            and type(transcoder) is JSONTranscoder and type(stamp) is DatetimeAsISO
        )
        self._stamp_name = stamp.name if self._fast else ""

    def _stamp(self, value: Any) -> Any:
        if type(value) is datetime:  # DatetimeAsISO.encode, as the transcoder's call-back has it
            return {"_type_": self._stamp_name, "_data_": value.isoformat()}
        raise TypeError

    def encode(self, state: Any) -> bytes:
        """The transcoder's bytes of an event's state."""
        if self._fast and plain(state, _LEAVES):
            try:
                out = orjson.dumps(state, default=self._stamp, option=_OPTIONS)
            except TypeError:  # orjson.JSONEncodeError: a lone surrogate, a number past 64 bits
                out = None
            if out is not None:
                return out
        return self.transcoder.encode(state)

    def to_stored_event(self, domain_event: Any) -> StoredEvent:
        if not self._fast:
            return super().to_stored_event(domain_event)
        event_state = dict(vars(domain_event))
        originator_id = event_state.pop("originator_id")
        originator_version = event_state.pop("originator_version")
        class_version = getattr(type(domain_event), "class_version", 1)
        if class_version > 1:
            event_state["class_version"] = class_version
        for name, value in event_state.items():  # the record times, without a call-back each
            if type(value) is datetime:  # what the transcoder writes for them, the same bytes
                event_state[name] = {"_type_": self._stamp_name, "_data_": value.isoformat()}
        return StoredEvent(
            originator_id=originator_id,
            originator_version=originator_version,
            topic=get_topic(domain_event.__class__),
            state=self.encode(event_state),
        )
