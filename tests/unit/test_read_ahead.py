"""``projections.log.ReadAhead``: the page after a full one is read meanwhile, and given only
when it is what a read at that moment would give."""

from __future__ import annotations

import threading

from projections.base import Recorded
from projections.log import ReadAhead


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
    while page := ahead.after(position, 10):
        got += positions(page)
        position = page[-1].position
        settle(ahead)
    assert got == list(range(1, 26))
    # 10..20 read ahead and given; 20.. read ahead, short, so read again when asked for
    assert reader.reads == [(0, 10), (10, 10), (20, 10), (20, 10), (25, 10)]
    assert ahead._ahead == {}


def test_a_short_page_read_ahead_is_read_again_and_sees_what_came_since():
    reader = FakeReader(15)
    ahead = ReadAhead(reader)
    assert positions(ahead.after(0, 10)) == list(range(1, 11))
    settle(ahead)  # read 11..15 ahead
    reader.size = 30  # records committed since
    assert positions(ahead.after(10, 10)) == list(range(11, 21))


def test_a_read_ahead_that_failed_is_read_again():
    reader = FakeReader(30)
    reader.fail_after = 10
    ahead = ReadAhead(reader)
    ahead.after(0, 10)
    settle(ahead)
    assert positions(ahead.after(10, 10)) == list(range(11, 21))
    assert reader.reads[:3] == [(0, 10), (10, 10), (10, 10)]


def test_a_page_read_ahead_for_another_position_or_size_is_not_given():
    reader = FakeReader(40)
    ahead = ReadAhead(reader)
    ahead.after(0, 10)
    settle(ahead)
    assert positions(ahead.after(5, 10)) == list(range(6, 16))
    assert positions(ahead.after(15, 5)) == list(range(16, 21))
    assert (5, 10) in reader.reads and (15, 5) in reader.reads


def test_a_reader_that_is_not_the_lean_one_never_reads_ahead():
    reader = FakeReader(30, lean=False)
    ahead = ReadAhead(reader)
    ahead.after(0, 10)
    ahead.after(10, 10)
    assert reader.reads == [(0, 10), (10, 10)] and ahead._pool is None
