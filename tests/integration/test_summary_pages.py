"""The summaries list's keyset pages: every row once, in key order, with and without a call
filter, across calls, on both stores."""

from __future__ import annotations

import pytest

from projections.applications import Summaries
from projections.queries import SUMMARIES, summaries
from projections.store import ViewStore

CALLS = ("call-a", "call-b", "call-c")
REFS = [f"R-{i:03d}" for i in range(7)]


@pytest.fixture
def store(store_url):
    store = ViewStore(store_url)
    projection = Summaries()
    with store.transaction() as tx:
        projection.create(tx, projection.live_names())
        for n, (call, ref) in enumerate((c, r) for c in CALLS for r in REFS):
            tx.execute(f"INSERT INTO {SUMMARIES} (app_id, call_id, application_ref, town_name, "
                       "city, region, track, status, version, updated_at, recorded_at, deadline_outcome, "
                       "position, state) VALUES (?, ?, ?, 't', ?, 'pearl', 'application', ?, 1, "
                       "'x', 'x', 'pending', ?, '{\"deadline_detail\": null}')",
                       (f"id-{n}", call, ref, "shunde" if n % 2 else "zhuhai",
                        "submitted" if n % 3 else "approved", n))
    yield store
    store.close()


def walk(store, filters, limit):
    keys, after = [], None
    while True:
        page = summaries(store, {**dict.fromkeys(("call_id", "status", "city", "track")),
                                 **filters}, after, limit)
        keys += [(i["call_id"], i["application_ref"]) for i in page.items]
        assert len(page.items) <= limit
        if page.last is None:
            return keys
        after = page.last


@pytest.mark.parametrize("limit", [1, 2, 3, 7, 50])
def test_pages_without_a_call_filter_cover_every_call_once_in_key_order(store, limit):
    assert walk(store, {}, limit) == [(c, r) for c in CALLS for r in REFS]


@pytest.mark.parametrize("limit", [1, 2, 7])
def test_pages_of_one_call_stay_in_that_call(store, limit):
    assert walk(store, {"call_id": "call-b"}, limit) == [("call-b", r) for r in REFS]


def test_a_key_in_another_call_leaves_the_filtered_call_whole_or_empty(store):
    every = [("call-b", r) for r in REFS]
    page = summaries(store, {"call_id": "call-b"}, ("call-a", "R-999"), 50)
    assert [(i["call_id"], i["application_ref"]) for i in page.items] == every
    assert summaries(store, {"call_id": "call-b"}, ("call-c", "R-000"), 50).items == []
    middle = summaries(store, {"call_id": "call-b"}, ("call-b", "R-003"), 50)
    assert [i["application_ref"] for i in middle.items] == REFS[4:]


def test_other_filters_combine_with_the_key(store):
    keys = walk(store, {"call_id": "call-c", "status": "submitted"}, 2)
    rows = {(c, r): n for n, (c, r) in enumerate((c, r) for c in CALLS for r in REFS)}
    assert keys == [k for k in rows if k[0] == "call-c" and rows[k] % 3]
