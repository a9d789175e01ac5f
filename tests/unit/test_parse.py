"""``projections.base.parse`` reads the stored JSON with orjson where it can: it must give
exactly what ``json.loads`` gives, and refuse what ``json.loads`` refuses."""

from __future__ import annotations

import json

from hypothesis import given, settings
from hypothesis import strategies as st

from projections.base import dump, parse


_JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(),
    lambda children: st.lists(children, max_size=4)
    | st.dictionaries(st.text(max_size=5), children, max_size=4),
    max_leaves=12,
)


def _parsed(read, data: bytes):
    try:
        return repr(read(data))
    except (ValueError, RecursionError) as error:  # UnicodeDecodeError and JSONDecodeError too
        return ("refused", type(error).__name__ if not isinstance(error, ValueError) else "ValueError")


@settings(max_examples=500, deadline=None)
@given(_JSON_VALUES, st.booleans())
def test_the_views_parse_json_as_json_does(value, spaced):
    text = json.dumps(value, ensure_ascii=False, separators=None if spaced else (",", ":"))
    data = text.encode("utf-8", "surrogatepass")
    assert _parsed(parse, data) == _parsed(lambda b: json.loads(b.decode("utf-8")), data)


@settings(max_examples=500, deadline=None)
@given(st.binary(max_size=40) | st.sampled_from([
    b"NaN", b"[1e400]", b'"\\ud800"', b"123456789012345678901234567890",
    b"-9223372036854775809", b"18446744073709551616", b'{"a":1,"a":2}', b" [1] ", b"[1]x",
    b"\xef\xbb\xbf[1]", b'"\xed\xa0\x80"', b"[" * 3000 + b"]" * 3000]))
def test_the_views_parse_any_bytes_as_json_does(data):
    assert _parsed(parse, data) == _parsed(lambda b: json.loads(b.decode("utf-8")), data)


@settings(max_examples=500, deadline=None)
@given(st.lists(st.integers(min_value=-(10**25), max_value=10**25)
                | st.from_regex(r"[0-9a-f]{10,70}", fullmatch=True)
                | st.floats(allow_nan=False), max_size=6),
       st.sampled_from(["list", "dict", "top"]), st.booleans())
def test_long_runs_of_digits_in_strings_and_numbers_parse_as_json_does(values, shape, spaced):
    """A run of 19 digits in a string (a hash, the first event's previous hash) is read by
    orjson; one starting a number, which may be past 64 bits, by json: both as json reads it."""
    value = (values if shape == "list" else {f"k{i}": v for i, v in enumerate(values)}
             if shape == "dict" else (values[0] if values else 0))
    text = json.dumps(value, separators=None if spaced else (",", ":"))
    data = text.encode("utf-8")
    assert _parsed(parse, data) == _parsed(lambda b: json.loads(b.decode("utf-8")), data)


def test_a_first_events_previous_hash_is_read_by_orjson_as_json_reads_it():
    doc = {"prev_hash": "0" * 64, "n": 12345678901234567890123, "m": [-(2**70)], "x": 2**63}
    data = json.dumps(doc).encode()
    assert repr(parse(data)) == repr(json.loads(data))
    assert repr(parse(b"123456789012345678901234567890")) == repr(123456789012345678901234567890)


def _dumped(write, value):
    try:
        return _parsed(parse, write(value).encode("utf-8", "surrogatepass"))
    except (TypeError, ValueError) as error:
        return ("refused", type(error).__name__)


_ANY_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(min_value=-(10**30), max_value=10**30)
    | st.floats() | st.text() | st.sampled_from(["\0", "\ud800", "镇", "\u2028"]),
    lambda children: st.lists(children, max_size=4) | st.tuples(children)
    | st.dictionaries(st.text(max_size=5) | st.integers(), children, max_size=4),
    max_leaves=12,
)


@settings(max_examples=500, deadline=None)
@given(_ANY_VALUES)
def test_the_views_json_reads_back_as_json_dumps_text_does(value):
    """``dump`` writes with orjson where the value is plain and finite: the text, once read,
    is what ``json.dumps``' text is once read, NaN, infinities, long integers, lone
    surrogates, NUL and integer keys included."""
    assert _dumped(dump, value) == _dumped(json.dumps, value)


def test_the_views_json_of_a_state_is_written_by_orjson_and_nan_by_json():
    state = {"town_name": "老隆镇", "score": 85.6, "receipts": [{"a4_bound": True}], "lapse": None}
    assert dump(state) == '{"town_name":"老隆镇","score":85.6,"receipts":[{"a4_bound":true}],"lapse":null}'
    assert dump({"score": float("nan")}) == '{"score": NaN}'
    assert dump({"n": 2**70}) == json.dumps({"n": 2**70})
