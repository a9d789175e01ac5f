"""Rebuilding a projection beside its live tables, then switching (``ProjectionRunner.rebuild``)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from projections import set_aside
from projections.base import NEXT, Projection, utc_now
from projections.errors import Busy, RebuildRefused
from projections.store import Tx


def rebuild(runner: Any, name: str, batch: int, wait: float = 30.0,
            on_progress: Callable[[int, int], None] | None = None) -> int:
    """Builds the projection from zero beside the live tables, then switches in one
    transaction; reads go on from the live tables until the switch. What the rebuild sets
    aside is recorded under ``NAME__next`` and becomes the live name's at the switch
    (``projections.set_aside.adopt``). The projection's ``switch_checks`` entry, if any, looks
    at the rebuilt tables before the switch: a reason it answers refuses the switch
    (``RebuildRefused``), and the live tables stay as they were (the audit view's tree
    against the witnessed heads). ``on_progress`` is told (position, head) after each batch."""
    projection = runner.projection(name)
    beside, key = projection.next_names(), name + NEXT
    runner.ahead.forget()  # read the log afresh: a rebuild may follow a repair of its bytes
    with runner.store.transaction() as tx:
        if not tx.try_lock(key):
            raise Busy(f"{name} is being rebuilt by another runner")
        projection.drop(tx, beside)
        projection.create(tx, beside)
        set_aside.forget(tx, key)
        runner.store.set_position(tx, key, 0, utc_now())
    while True:
        count = runner.step(projection, key, beside, batch)
        if count is None:
            raise Busy(f"{name} is being rebuilt by another runner")
        if on_progress is not None:
            with runner.store.transaction(read_only=True) as tx:
                at = runner.store.position(tx, key)
            on_progress(at, max(at, runner.towns.recorder.max_notification_id() or 0))
        if count == 0 or runner.at_head(key):
            break
    deadline = time.monotonic() + wait
    while True:
        with runner.store.transaction() as tx:
            if tx.try_lock(name) and tx.try_lock(key):
                while runner.advance_or_set_aside(tx, projection, key, beside, batch):
                    pass
                position = runner.store.position(tx, key)
                check = runner.switch_checks.get(name)
                refused = check(tx, beside) if check is not None else None
                if refused:
                    raise RebuildRefused(f"{name} was rebuilt but not switched: {refused}")
                live = projection.live_names()
                projection.drop(tx, live)
                for table in projection.tables:
                    tx.execute(f"ALTER TABLE {beside[table]} RENAME TO {live[table]}")
                _rename_indexes(tx, projection, beside, live)
                runner.store.set_position(tx, name, position, utc_now())
                tx.execute("DELETE FROM projection_positions WHERE name = ?", (key,))
                set_aside.adopt(tx, key, name, utc_now())
                projection.switched()
                return position
        if time.monotonic() > deadline:
            raise Busy(f"{name} stayed busy for {wait:.0f}s; the rebuild did not switch")
        time.sleep(0.05)



def _rename_indexes(tx: Tx, projection: Projection, beside: dict, live: dict) -> None:
    """Indexes keep their names through a table rename: give them the live names again."""
    for table, column_lists in projection.indexes.items():
        for i, columns in enumerate(column_lists):
            old, new = f"{beside[table]}_i{i}", f"{live[table]}_i{i}"
            tx.execute(f"DROP INDEX IF EXISTS {old}")
            tx.execute(f"CREATE INDEX IF NOT EXISTS {new} ON {live[table]} ({columns})")

