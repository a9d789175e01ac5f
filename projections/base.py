"""What a read model is: its tables, and what a batch of recorded events does to them."""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from datetime import datetime, timezone
from typing import Any, ClassVar, NamedTuple

import orjson
from orjson import loads as _ORJSON

from domain import lifecycle as lc
from domain.decoding import long_number
from projections.store import Tx


class Recorded(NamedTuple):
    """One notification of the log: its position, the decoded event, and its stored bytes."""

    position: int
    topic: str
    event: Any  # None for a projection that reads the stored bytes itself (``decodes``)
    state: bytes
    originator_id: Any = None
    originator_version: int = 0


_DECODER = json.JSONDecoder()
_SCAN = _DECODER.scan_once


def parse(state: bytes) -> Any:
    """The stored JSON (the transcoder writes UTF-8) as Python objects, exactly as ``json.loads``
    gives them: by orjson (about twice as fast) where it reads the document and no number in
    it could be an integer past 64 bits (``domain.decoding.long_number``); else ``json``'s
    own scanner (without ``json.loads``' encoding detection and wrappers), which also says why
    a document cannot be read. orjson refuses what JSON does not allow and json does (NaN, a
    lone surrogate, a number past a double): those are read by json, as before."""
    if not long_number(state):
        try:
            return _ORJSON(state)
        except ValueError:  # orjson.JSONDecodeError: json decides
            pass
    text = state.decode("utf-8")
    try:
        value, end = _SCAN(text, 0)
    except StopIteration:
        value, end = None, -1
    if end != len(text):  # leading or trailing whitespace, or not JSON: the full decoder says
        return _DECODER.decode(text)
    return value


_PLAIN_ONLY = (orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS
               | orjson.OPT_PASSTHROUGH_SUBCLASS)


def dump(value: Any) -> str:
    """A view's JSON text for ``value``, which ``parse`` reads back as ``json.dumps``' text
    would be read: by orjson (about seven times as fast) where the value is plain JSON (dicts
    with string keys, lists, strings, integers within 64 bits, booleans, None) and its floats
    are finite; else by ``json.dumps``, as before, which keeps NaN and the infinities (orjson
    would write null) and refuses what it always refused. orjson writes non-ASCII characters
    as they are where ``json.dumps`` escapes them: the same text once read."""
    try:
        text = orjson.dumps(value, option=_PLAIN_ONLY)
    except TypeError:  # orjson.JSONEncodeError: a long integer, a lone surrogate, a key
        return json.dumps(value)
    if not _finite(value):
        return json.dumps(value)
    return text.decode("utf-8")


def _finite(value: Any) -> bool:
    """Whether every float in ``value`` (a plain JSON value) is finite."""
    stack = [value]
    while stack:
        item = stack.pop()
        kind = type(item)
        if kind is float:
            if not math.isfinite(item):
                return False
        elif kind is dict:
            stack.extend(item.values())
        elif kind is list or kind is tuple:
            stack.extend(item)
    return True


def utc_now() -> str:
    """Now, as the views record times they keep of their own (positions, set-aside records)."""
    return datetime.now(timezone.utc).isoformat()


def data_of(recorded: Recorded) -> Any:
    """The event's ``data``: from the decoded event if the runner decoded it, else the JSON."""
    event = recorded.event
    return event.data if event is not None else parse(recorded.state)["data"]


def displayed(value: Any) -> Any:
    """A value for a view's text column: in a string, NUL (which PostgreSQL's text cannot
    hold) as U+FFFD; nothing else changes. Views keep the faithful value in their JSON or, for
    the audit trail, in the hashes of the stored bytes."""
    return value.replace("\x00", "\ufffd") if isinstance(value, str) else value


class _NeedsData(Exception):
    pass


class _NoData:
    """Passed as an event's data to learn whether the rule reads it: any use raises."""

    def _refuse(self, *args: Any, **kwargs: Any) -> Any:
        raise _NeedsData

    __getitem__ = __contains__ = __iter__ = __len__ = __bool__ = __eq__ = _refuse
    get = keys = items = values = _refuse

    def __getattr__(self, name: str) -> Any:
        raise _NeedsData

    __hash__ = None  # type: ignore[assignment]


_NO_DATA = _NoData()
_STEPS: dict[tuple, tuple[str, str | None]] = {}
_READS_DATA: set[str] = set()


def next_standing(status: str | None, lapsed_from: str | None, kind: str,
                  recorded: Recorded) -> tuple[str, str | None]:
    """``domain.lifecycle.standing_after`` as (status, lapsed_from). Where the rule does not
    read the event's data (all but a reinstatement today), the answer depends on the standing
    and the event type alone: it is remembered, and the event's JSON is not read for it."""
    key = (status, lapsed_from, kind)
    found = _STEPS.get(key)
    if found is not None:
        return found
    before = None if status is None else lc.Standing(status, lapsed_from)
    if kind not in _READS_DATA:
        try:
            after = lc.standing_after(before, kind, _NO_DATA)  # type: ignore[arg-type]
        except _NeedsData:
            _READS_DATA.add(kind)
        else:
            found = _STEPS[key] = (after.status, after.lapsed_from)
            return found
    after = lc.standing_after(before, kind, data_of(recorded))
    return after.status, after.lapsed_from


NEXT = "__next"
"""What a rebuild's tables and its key are named after: ``NAME__next`` beside ``NAME``."""


class Projection:
    """A read model. ``tables`` maps each logical table to its CREATE TABLE statement with
    ``{name}`` for the physical name, so that a rebuild can build beside the live tables."""

    name: ClassVar[str]
    tables: ClassVar[dict[str, str]]
    indexes: ClassVar[dict[str, list[str]]] = {}
    topics: ClassVar[tuple[str, ...]] = ()  # the topics it reads; empty: all
    decodes: ClassVar[bool] = True
    """False: it reads the stored JSON itself, cheaper than decoding every event into objects
    (used only where the store neither compresses nor encrypts)."""
    batch: ClassVar[int | None] = None
    """Events a batch holds when the runner is not told (None: the runner's ``BATCH``)."""

    def create(self, tx: Tx, names: dict[str, str]) -> None:
        for table, ddl in self.tables.items():
            tx.execute(ddl.format(name=names[table]))
            for i, columns in enumerate(self.indexes.get(table, [])):
                tx.execute(
                    f"CREATE INDEX IF NOT EXISTS {names[table]}_i{i} ON {names[table]} ({columns})"
                )

    def drop(self, tx: Tx, names: dict[str, str]) -> None:
        for table in self.tables:
            tx.execute(f"DROP TABLE IF EXISTS {names[table]}")

    def apply(self, tx: Tx, names: dict[str, str], batch: Sequence[Recorded]) -> None:
        raise NotImplementedError

    def trial(self, tx: Tx, names: dict[str, str], recorded: Recorded) -> None:
        """Whether a set-aside event would now be taken: raises as ``apply`` would. The runner
        undoes whatever it writes."""
        self.apply(tx, names, [recorded])

    def switched(self) -> None:
        """A rebuild has just put other tables in place of the live ones (the runner calls it
        at the switch): drop what is kept in memory between batches about the old ones."""

    def live_names(self) -> dict[str, str]:
        return {table: table for table in self.tables}

    def next_names(self) -> dict[str, str]:
        return {table: f"{table}{NEXT}" for table in self.tables}
