"""``projections.log.ReadAhead``: the page after a full one is read meanwhile, and given only
when it is what a read at that moment would give; the last pages read are given again to the
views that step from the same position, where they answer them."""

from __future__ import annotations

import threading

from projections.base import Recorded
from projections.log import KEEP, KEEP_RECORDS, ReadAhead


class FakeReader:
    """A log of ``size`` records; counts the reads; ``fail`` makes reads after a position
    raise once; ``grow`` appends records."""

    def __init__(self, size: int, lean: bool = True) -> None:
        self.lean = lean
        self.size = size
        self.reads: list[tuple[int, int]] = []
        self.fail_after: int | None = None
        self.lock = threading.Lock()

    def after(self, position: int, limit: int, topics=()) -> list[Recorded]:
        with self.lock:
            self.reads.append((position, limit))
            if self.fail_after == position:
                self.fail_after = None
                raise ConnectionError("the log could not be read")
            end = min(self.size, position + limit)
        return [Recorded(p, "t", None, b"{}", "id", 1) for p in range(position + 1, end + 1)]


def settle(ahead: ReadAhead) -> None:
    for future in list(ahead._ahead.values()):
        try:
            future.result(timeout=5)
        except Exception:  # noqa: BLE001
            pass


def positions(records: list[Recorded]) -> list[int]:
    return [r.position for r in records]


def test_each_full_page_brings_the_next_read_once():
    reader = FakeReader(25)
    ahead = ReadAhead(reader)
    got, position = [], 0
    while records := ahead.page(position, 10, head=reader.size).records:
        got += positions(records)
        position = records[-1].position
        settle(ahead)
    assert got == list(range(1, 26))
    # 10..20 read ahead and given; 20.. read ahead, short, so read again when asked for
    assert reader.reads == [(0, 10), (10, 10), (20, 10), (20, 10), (25, 10)]
    assert ahead._ahead == {}


def test_a_short_page_read_ahead_is_read_again_and_sees_what_came_since():
    reader = FakeReader(15)
    ahead = ReadAhead(reader)
    assert positions(ahead.page(0, 10, 0).records) == list(range(1, 11))
    settle(ahead)  # read 11..15 ahead
    reader.size = 30  # records committed since
    assert positions(ahead.page(10, 10, reader.size).records) == list(range(11, 21))


def test_a_read_ahead_that_failed_is_read_again():
    reader = FakeReader(30)
    reader.fail_after = 10
    ahead = ReadAhead(reader)
    ahead.page(0, 10, 0)
    settle(ahead)
    assert positions(ahead.page(10, 10, reader.size).records) == list(range(11, 21))
    assert reader.reads[:3] == [(0, 10), (10, 10), (10, 10)]


def test_a_page_read_ahead_for_another_position_or_size_is_not_given():
    reader = FakeReader(40)
    ahead = ReadAhead(reader)
    ahead.page(0, 10, 0)
    settle(ahead)
    assert positions(ahead.page(5, 10, 5).records) == list(range(6, 16))
    assert positions(ahead.page(15, 5, 15).records) == list(range(16, 21))
    assert (5, 10) in reader.reads and (15, 5) in reader.reads


def test_a_reader_that_is_not_the_lean_one_never_reads_ahead():
    reader = FakeReader(30, lean=False)
    ahead = ReadAhead(reader)
    ahead.page(0, 10, 0)
    ahead.page(10, 10, 10)
    assert reader.reads == [(0, 10), (10, 10)] and ahead._pool is None


def test_the_views_of_one_pass_read_a_page_once():
    reader = FakeReader(5)
    ahead = ReadAhead(reader)
    first = ahead.page(0, 10, head=5)
    again = ahead.page(0, 10, head=5)
    assert positions(again.records) == positions(first.records) == [1, 2, 3, 4, 5]
    assert (again.covered, again.full) == (first.covered, first.full) == (5, False)
    assert again.records is not first.records  # a view's list is its own
    assert reader.reads == [(0, 10)]


def test_a_short_page_is_given_again_only_while_it_covers_the_head():
    reader = FakeReader(5)
    ahead = ReadAhead(reader)
    ahead.page(0, 10, head=5)
    reader.size = 7  # committed since: the head read by the next view is past the page
    page = ahead.page(0, 10, head=7)
    assert positions(page.records) == list(range(1, 8)) and page.covered == 7
    assert reader.reads == [(0, 10), (0, 10)]


def test_a_short_page_covers_the_head_read_before_it_past_other_events():
    reader = FakeReader(3)
    ahead = ReadAhead(reader)
    page = ahead.page(0, 10, head=9)  # the head's events are not the reader's (other topics)
    assert positions(page.records) == [1, 2, 3] and page.covered == 9 and not page.full
    assert ahead.page(0, 10, head=9).covered == 9 and len(reader.reads) == 1


def test_a_full_page_gives_a_smaller_page_its_beginning_never_a_larger_one():
    reader = FakeReader(30, lean=False)  # no reading ahead: only the reads asked for
    ahead = ReadAhead(reader)
    ahead.page(0, 10, head=30)
    smaller = ahead.page(0, 4, head=30)
    assert positions(smaller.records) == [1, 2, 3, 4]
    assert (smaller.covered, smaller.full) == (4, True)
    assert reader.reads == [(0, 10)]
    larger = ahead.page(0, 20, head=30)
    assert positions(larger.records) == list(range(1, 21))
    assert reader.reads[-1] == (0, 20)


def test_a_page_from_elsewhere_in_the_log_is_not_given():
    reader = FakeReader(30, lean=False)
    ahead = ReadAhead(reader)
    ahead.page(0, 10, head=30)
    assert positions(ahead.page(3, 4, head=30).records) == [4, 5, 6, 7]
    assert reader.reads[-1] == (3, 4)


def test_only_the_last_pages_are_kept():
    reader = FakeReader(100, lean=False)
    ahead = ReadAhead(reader)
    for position in range(0, 10 * (KEEP + 2), 10):
        ahead.page(position, 10, head=100)
    assert len(ahead._kept) == KEEP
    reads = len(reader.reads)
    ahead.page(0, 10, head=100)  # the oldest was let go: read again
    assert len(reader.reads) == reads + 1


def test_a_page_longer_than_the_views_own_is_not_kept():
    reader = FakeReader(3 * KEEP_RECORDS, lean=False)
    ahead = ReadAhead(reader)
    ahead.page(0, 2 * KEEP_RECORDS, head=3 * KEEP_RECORDS)
    assert ahead._kept == {}
    ahead.page(0, KEEP_RECORDS, head=3 * KEEP_RECORDS)
    assert list(ahead._kept) == [0]
