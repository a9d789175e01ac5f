"""The canonical encoding that hashes and digests cover: sorted keys, no white space, UTF-8."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from uuid import UUID

import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain.hashing import canonical, digest

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=5), inner, max_size=4),
    max_leaves=20,
)


@given(JSON)
def test_canonical_is_sorted_compact_utf8_json(value):
    expected = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    assert canonical(value) == expected.encode("utf-8")
    assert json.loads(canonical(value)) == value


def test_times_and_ids_are_written_as_iso_text_and_hyphenated_hex():
    at = datetime(2017, 3, 30, 23, 59, 59, tzinfo=timezone(timedelta(hours=8)))
    ident = UUID("12345678-1234-5678-1234-567812345678")
    assert canonical({"b": ident, "a": at, "镇": 1}) == (
        '{"a":"2017-03-30T23:59:59+08:00","b":"12345678-1234-5678-1234-567812345678","镇":1}'
    ).encode("utf-8")


@pytest.mark.parametrize("value", [{"a": float("inf")}, [float("-inf")], {"a": float("nan")},
                                   {"a": "\ud800"}, {"\udfff": 1}])
def test_a_digest_refuses_what_json_and_utf8_do_not_have(value):
    with pytest.raises(ValueError):
        digest(value)
