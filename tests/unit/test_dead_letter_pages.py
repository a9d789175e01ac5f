"""Dead letters a page at a time (``adapters.ops.dead_letters``) on the in-memory store and on
SQLite: a page reads about as many letters as it shows, however many there are; the open ones
fill their page past the re-driven ones; a cursor resumes after its letter."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from adapters.store.inbound_records import InboundRecords
from adapters.ops import dead_letters
from domain.inbound import dead_letter_id

COUNT = 60


@pytest.fixture(params=["memory_towns", "sqlite_towns"])
def records(request) -> InboundRecords:
    towns = request.getfixturevalue(request.param)
    found = InboundRecords(towns)
    now = datetime.now(timezone.utc)
    for i in range(COUNT):
        found.dead_letter(f"dl-{i:03}", f"dl-{i:03}", "unknown_call", "no such call",
                          b'{"n": %d}' % i, "province", "materials.received", now)
    return found


@pytest.fixture
def reads(records, monkeypatch) -> list:
    """The letters read from the store from now on."""
    seen: list = []
    get = records.towns.repository.get
    monkeypatch.setattr(records.towns.repository, "get", lambda *a, **k: seen.append(a) or get(*a, **k))
    return seen


def ids(page: dead_letters.Page) -> list[str]:
    return [item["message_id"] for item in page.items]


def test_a_page_of_one_reads_about_one_letter(records, reads):
    first = dead_letters.page(records, open_only=False, limit=1)
    assert ids(first) == ["dl-000"] and first.next_cursor == str(dead_letter_id("dl-000"))
    assert len(reads) <= 2  # the page and the one that says there is more
    reads.clear()
    second = dead_letters.page(records, False, 1, first.next_cursor)
    assert ids(second) == ["dl-001"] and len(reads) <= 2


def test_the_open_ones_fill_their_page_past_the_re_driven_ones(records):
    for i in range(0, COUNT, 2):
        records.requeued(dead_letter_id(f"dl-{i:03}"), "alice")
    page = dead_letters.page(records, open_only=True, limit=3)
    assert ids(page) == ["dl-001", "dl-003", "dl-005"]
    rest = dead_letters.page(records, True, 100, page.next_cursor)
    assert ids(rest) == [f"dl-{i:03}" for i in range(7, COUNT, 2)] and rest.next_cursor is None


def test_every_letter_is_read_a_page_at_a_time(records):
    assert [x.key for x in dead_letters.every(records, False, size=7)] == [f"dl-{i:03}" for i in range(COUNT)]


def test_a_cursor_that_names_no_letter_is_refused(records):
    for cursor in ("nope", "5f0e5e6e-1f1a-4c55-9d5a-6a4c0f8b8c11"):
        with pytest.raises(dead_letters.UnknownCursor):
            dead_letters.page(records, cursor=cursor)
