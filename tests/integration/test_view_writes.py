"""The views' bulk writes (``projections.tx.Tx``): ``insert_many``, ``inserter`` and
``upsert_many`` store the same rows on either side of ``FEW`` (a statement a row,
pipelined, up to it; COPY past it on PostgreSQL), on PostgreSQL and SQLite."""

from __future__ import annotations

import pytest

from projections.store import ViewStore
from projections.tx import FEW, IN_CHUNK

COLUMNS = ("app_id", "status", "n", "note")
SIZES = (1, 2, FEW - 1, FEW, FEW + 1, 3 * FEW)


def rows(count: int, status: str = "submitted", start: int = 0) -> list[tuple]:
    """Rows with the values views write: text in any script, NULL, big and negative integers,
    quotes, percent signs and question marks (the placeholders of both dialects)."""
    notes = ("市镇 “互联网+”", None, "it's 100% done?", "%s and ?", "", "x" * 2000)
    return [(f"app-{i:05d}", status, (-1) ** i * (2**62 + i), notes[i % len(notes)])
            for i in range(start, start + count)]


@pytest.fixture
def store(store_url: str) -> ViewStore:
    store = ViewStore(store_url)
    with store.transaction() as tx:
        tx.execute("CREATE TABLE kept (app_id TEXT PRIMARY KEY, status TEXT NOT NULL, "
                   "n BIGINT, note TEXT)")
        tx.execute("CREATE TABLE added (app_id TEXT NOT NULL, status TEXT NOT NULL, "
                   "n BIGINT, note TEXT)")
    return store


def stored(store: ViewStore, table: str) -> list[tuple]:
    with store.transaction(read_only=True) as tx:
        return [tuple(r) for r in tx.all(f"SELECT {', '.join(COLUMNS)} FROM {table} "
                                         "ORDER BY app_id")]


@pytest.mark.parametrize("count", SIZES)
def test_insert_many_and_inserter_store_every_row_as_given(store: ViewStore, count: int):
    with store.transaction() as tx:
        tx.insert_many("added", COLUMNS, rows(count))
        with tx.inserter("kept", COLUMNS) as insert:
            for row in rows(count, "returned"):
                insert(row)
    assert stored(store, "added") == rows(count)
    assert stored(store, "kept") == rows(count, "returned")


@pytest.mark.parametrize("count", SIZES)
def test_upsert_many_replaces_the_rows_it_finds_and_adds_the_others(store: ViewStore,
                                                                    count: int):
    with store.transaction() as tx:
        tx.insert_many("kept", COLUMNS, rows(count))
    half = count // 2
    changed = rows(count - half, "recommended", start=half) + rows(count, "approved",
                                                                    start=count)[:half]
    with store.transaction() as tx:
        tx.upsert_many("kept", COLUMNS, "app_id", changed)
        tx.upsert_many("kept", COLUMNS, "app_id", rows(1, "evaluated"))  # twice in one tx
    expected = {r[0]: r for r in rows(count)}
    expected.update({r[0]: r for r in changed})
    expected.update({r[0]: r for r in rows(1, "evaluated")})
    assert stored(store, "kept") == sorted(expected.values())


def test_an_inserter_that_fails_part_way_stores_nothing(store: ViewStore):
    for count in (FEW - 1, 3 * FEW):
        with pytest.raises(RuntimeError), store.transaction() as tx:
            with tx.inserter("added", COLUMNS) as insert:
                for row in rows(count):
                    insert(row)
                raise RuntimeError("the view could not make the next row")
        assert stored(store, "added") == []


@pytest.mark.parametrize("wanted", [0, 1, IN_CHUNK, IN_CHUNK + 1, 3 * IN_CHUNK])
def test_all_in_reads_the_rows_of_any_number_of_values(store: ViewStore, wanted: int):
    """One array on PostgreSQL, chunks within SQLite's limit on parameters: every row asked
    for, once, whatever the number; values with no row give none."""
    kept = rows(2 * IN_CHUNK)
    with store.transaction() as tx:
        tx.insert_many("kept", COLUMNS, kept)
    asked = [r[0] for r in kept[::2]][:wanted] + [f"absent-{i}" for i in range(wanted)]
    with store.transaction(read_only=True) as tx:
        found = tx.all_in(f"SELECT {', '.join(COLUMNS)} FROM kept WHERE app_id", asked)
    assert sorted(tuple(r) for r in found) == kept[::2][:wanted]
