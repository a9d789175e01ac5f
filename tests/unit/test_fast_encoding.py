"""The orjson paths write exactly the bytes of the encoders they stand in for: the canonical
encoding of hashes and digests (``domain.hashing``) and the library transcoder's stored state
(``domain.stored_encoding``), on generated values (non-ASCII, escapes, floats of every
magnitude, integers past 64 bits, nesting, datetimes) and on every event of a life cycle."""

from __future__ import annotations

import json
import math
import struct
from datetime import datetime, timedelta, timezone
from uuid import UUID

import pytest
from eventsourcing.application import Application as LibraryApplication
from eventsourcing.persistence import JSONTranscoder, Mapper
from hypothesis import given, settings
from hypothesis import strategies as st

from domain.hashing import canonical, fast_canonical, slow_canonical
from domain.hashing import plain
from domain.stored_encoding import _LEAVES as STORED_LEAVES, StoredMapper

FLOATS = (st.floats(allow_nan=True, allow_infinity=True)
          | st.floats(min_value=-1e-3, max_value=1e-3)
          | st.sampled_from([0.0, -0.0, 1e-4, 9.999e-5, 1e-5, 1e-7, 1e15, 1e16, 1e21, 1e-300,
                             5e-324, 1.7976931348623157e308, 0.1, 2.5, 320.0])
          | st.builds(lambda bits: struct.unpack("d", struct.pack("Q", bits))[0],
                      st.integers(0, 2**64 - 1)))
INTEGERS = st.integers() | st.sampled_from([2**63 - 1, 2**63, -2**63, -2**63 - 1, 2**64 - 1,
                                            2**64, 10**30])
TEXT = st.text() | st.text(alphabet=st.characters(max_codepoint=0x7F)) | st.sampled_from(
    ["", "null", "a,1e5", "\\u0000", "\x00\x1f\x7f\u2028\u2029\"\\/\b\f\n\r\t", "镇\U0001F600",
     "\ud800", "x\udfffy", "[0.00001"])
TIMES = st.datetimes(timezones=st.none() | st.timezones() | st.just(timezone(timedelta(hours=8))))
LEAF = st.none() | st.booleans() | INTEGERS | FLOATS | TEXT
JSON = st.recursive(
    LEAF, lambda inner: st.lists(inner, max_size=5) | st.dictionaries(TEXT, inner, max_size=5),
    max_leaves=30)
WITH_TIMES = st.recursive(
    LEAF | TIMES,
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(TEXT, inner, max_size=5),
    max_leaves=30)


def outcome(fn, value):
    try:
        return fn(value)
    except (ValueError, TypeError) as error:  # UnicodeEncodeError is a ValueError
        return type(error)


@settings(max_examples=1500, deadline=None)
@given(WITH_TIMES)
def test_canonical_is_the_python_encoders_bytes(value):
    assert outcome(canonical, value) == outcome(slow_canonical, value)
    fast = outcome(fast_canonical, value)
    if isinstance(fast, bytes):  # when orjson writes it, Python writes the same
        assert fast == slow_canonical(value)


@settings(max_examples=1500, deadline=None)
@given(st.floats(allow_nan=False, allow_infinity=False))
def test_every_float_is_written_as_python_writes_it_or_left_to_python(value):
    fast = fast_canonical([value, {"x": value}])
    assert fast is None or fast == slow_canonical([value, {"x": value}])


def test_whole_doubles_by_bit_pattern():
    for bits in range(0, 2**64, 2**64 // 50_003):
        value = struct.unpack("d", struct.pack("Q", bits))[0]
        if math.isfinite(value):
            fast = fast_canonical({"v": value})
            assert fast is None or fast == slow_canonical({"v": value}), value


@pytest.mark.parametrize("value", [
    {"b": UUID("12345678-1234-5678-1234-567812345678"), "a": datetime(2017, 3, 30, 23, 59, 59,
                                                                        123, tzinfo=timezone.utc)},
    {"镇": [1, 2.5, None, True, "é"], "a": {"z": 1, "y": []}},
    [10**40, 1e-5, float("inf")],
])
def test_times_ids_and_the_slow_cases(value):
    assert outcome(canonical, value) == outcome(slow_canonical, value)


def test_what_the_fast_path_refuses_is_refused_as_before():
    for value in ({"a": float("inf")}, [float("nan")], {"a": "\ud800"}, {"\udfff": 1},
                  {"a": 1e400 * 0}):
        with pytest.raises(ValueError):
            canonical(value)


def _mappers():
    app = LibraryApplication()
    transcoder = app.construct_transcoder()
    return Mapper(transcoder=transcoder), StoredMapper(transcoder=transcoder)


@settings(max_examples=1500, deadline=None)
@given(WITH_TIMES | st.dictionaries(TEXT, WITH_TIMES, max_size=6)
       | st.builds(lambda d, u: {**d, "id": u}, st.dictionaries(TEXT, JSON, max_size=3),
                   st.uuids()))
def test_stored_state_is_the_transcoders_bytes(value):
    library, ours = _MAPPERS
    assert outcome(ours.encode, value) == outcome(library.transcoder.encode, value)


_MAPPERS = _mappers()


def test_plain_names_only_what_both_encoders_write_alike():
    value = {"a": [1, 2.5, 0.0, -0.0, 1e-4, 1e300, None, True, "x", {"b": datetime.now(timezone.utc)}]}
    assert plain(value) and plain(value, STORED_LEAVES)
    assert plain({"a": UUID(int=1)}) and not plain({"a": UUID(int=1)}, STORED_LEAVES)
    for value in ({1: "a"}, ("a",), [9.99e-5], [-1e-7], [float("nan")], [float("inf")],
                  [float("-inf")], {"a": [b"x"]}):
        assert not plain(value) and not plain(value, STORED_LEAVES)


def test_every_event_of_a_life_cycle_is_stored_as_the_library_stores_it():
    """Each event of the bench's life cycles, with its inbox marker, through both mappers."""
    from adapters.bootstrap import build_towns
    from adapters.config import load_config
    from adapters.inbound.ingest import ingest_many
    from bench.common import life_cycles

    config = load_config()
    towns = build_towns(config, "sqlite:///:memory:")
    try:
        assert isinstance(towns.mapper, StoredMapper)
        library = Mapper(transcoder=towns.mapper.transcoder)
        events = []
        save = towns.mapper.to_stored_event

        def keep(event):
            events.append(event)
            return save(event)

        towns.mapper.to_stored_event = keep
        messages = life_cycles(60, prefix="F")
        ingest_many(towns, [(body, config.principals[p]) for p, body in messages])
        assert len(events) >= 2 * len(messages)
        for event in events:
            assert save(event) == library.to_stored_event(event)
        for _, body in messages:
            value = json.loads(body)
            assert fast_canonical(value) == slow_canonical(value)
    finally:
        towns.close()


class _Event:
    """An event as the mapper sees it: its fields in ``vars``."""

    def __init__(self, **fields):
        self.__dict__.update(fields)


@settings(max_examples=1500, deadline=None)
@given(st.uuids(), st.integers(1, 10**6), TIMES, st.dictionaries(TEXT, WITH_TIMES, max_size=6))
def test_stored_events_are_the_librarys(originator_id, version, timestamp, data):
    library, ours = _MAPPERS
    event = _Event(originator_id=originator_id, originator_version=version, timestamp=timestamp,
                   data=data, occurred_at=timestamp, hash="0" * 64)
    assert outcome(ours.to_stored_event, event) == outcome(library.to_stored_event, event)
