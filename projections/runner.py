"""Runs projections: each reads the notification log from its tracked position and writes its
rows and its new position in one transaction, under a lock that admits one runner per
projection, so duplicate nudges and several workers can neither double nor skip an event.

Commit order equals notification order in the event store (eventsourcing locks the table on
insert; its database functions, which would skip that lock, stay off), so reading on from the
last position never misses an event committed later with a smaller id.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timezone

from domain.service import Towns
from projections.base import Projection, Recorded
from projections.log import LogReader
from projections.store import Tx, ViewStore

BATCH = 1000
NEXT = "__next"


@dataclass(frozen=True)
class Status:
    name: str
    position: int
    head: int

    @property
    def lag(self) -> int:
        return max(0, self.head - self.position)


class Busy(Exception):
    """Another runner holds the projection."""


class ProjectionRunner:
    def __init__(self, towns: Towns, store: ViewStore, projections: Sequence[Projection]) -> None:
        self.towns = towns
        self.store = store
        self.projections = {p.name: p for p in projections}
        self.log = LogReader(towns.recorder)

    def setup(self) -> None:
        self.store.ensure_positions()
        for projection in self.projections.values():
            with self.store.transaction() as tx:
                projection.create(tx, projection.live_names())

    def projection(self, name: str) -> Projection:
        try:
            return self.projections[name]
        except KeyError:
            known = ", ".join(self.projections)
            raise KeyError(f"no projection {name!r} (known: {known})") from None

    # -- catching up -------------------------------------------------------------------------

    def run_once(self, name: str, batch: int = BATCH) -> int | None:
        """Projects the next batch; the number of events, or None when another runner holds it."""
        projection = self.projection(name)
        with self.store.transaction() as tx:
            if not tx.try_lock(name):
                return None
            return self._advance(tx, projection, name, projection.live_names(), batch)

    def catch_up(self, name: str, batch: int = BATCH) -> int:
        """Projects until the end of the log; the number of events projected by this call."""
        total = 0
        while (count := self.run_once(name, batch)):
            total += count
        return total

    def catch_up_all(self) -> dict[str, int]:
        return {name: self.catch_up(name) for name in self.projections}

    def _advance(self, tx: Tx, projection: Projection, key: str, names: dict, batch: int) -> int:
        position = self.store.position(tx, key)
        head = self.towns.recorder.max_notification_id() or 0
        mapper = self.towns.mapper
        plain = mapper.compressor is None and mapper.cipher is None
        if plain and not projection.decodes:
            recorded = self.log.after(position, batch, projection.topics)
        else:
            decode = mapper.to_domain_event
            recorded = [Recorded(n.id, n.topic, decode(n), n.state, n.originator_id,
                                 n.originator_version)
                        for n in self.towns.recorder.select_notifications(
                            start=position, limit=batch, topics=projection.topics,
                            inclusive_of_start=False)]
        if not recorded:
            # Nothing of its topics up to the head read before the query: every event up to
            # there is committed (commit order is notification order), so skip over them.
            if head > position:
                self.store.set_position(tx, key, head, _now())
            return 0
        projection.apply(tx, names, recorded)
        self.store.set_position(tx, key, recorded[-1].position, _now())
        return len(recorded)

    # -- reading the state of things ---------------------------------------------------------

    def status(self) -> list[Status]:
        head = self.towns.recorder.max_notification_id() or 0
        with self.store.transaction() as tx:
            return [Status(n, self.store.position(tx, n), head) for n in self.projections]

    # -- rebuilding --------------------------------------------------------------------------

    def rebuild(self, name: str, batch: int = BATCH, wait: float = 30.0) -> int:
        """Builds the projection from zero beside the live tables, then switches in one
        transaction; reads go on from the live tables until the switch."""
        projection = self.projection(name)
        beside, key = projection.next_names(), name + NEXT
        with self.store.transaction() as tx:
            if not tx.try_lock(key):
                raise Busy(f"{name} is being rebuilt by another runner")
            projection.drop(tx, beside)
            projection.create(tx, beside)
            self.store.set_position(tx, key, 0, _now())
        while True:
            with self.store.transaction() as tx:
                if not tx.try_lock(key):
                    raise Busy(f"{name} is being rebuilt by another runner")
                if self._advance(tx, projection, key, beside, batch) == 0:
                    break
        deadline = time.monotonic() + wait
        while True:
            with self.store.transaction() as tx:
                if tx.try_lock(name) and tx.try_lock(key):
                    while self._advance(tx, projection, key, beside, batch):
                        pass
                    position = self.store.position(tx, key)
                    live = projection.live_names()
                    projection.drop(tx, live)
                    for table in projection.tables:
                        tx.execute(f"ALTER TABLE {beside[table]} RENAME TO {live[table]}")
                    _rename_indexes(tx, projection, beside, live)
                    self.store.set_position(tx, name, position, _now())
                    tx.execute("DELETE FROM projection_positions WHERE name = ?", (key,))
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


def _now() -> str:
    return datetime.now(timezone.utc).isoformat()
