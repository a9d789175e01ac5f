"""Runs projections: each reads the notification log from its tracked position and writes its
rows and its new position in one transaction, under a lock that admits one runner per
projection, so duplicate nudges and several workers can neither double nor skip an event.

An event the view cannot take never stops it. A batch that fails (any error but the store's
own, ``store.unreachable``, which is raised for the worker to try again later) is rolled back
and done again in a new transaction one event at a time, each inside a savepoint: an event that
fails there is set aside (``projections.set_aside``: where it is and why), in the transaction
that moves the position past it, and the rest are applied. The first try stays one transaction
per batch without savepoints, as fast as before; only a batch that fails pays for the second
pass. Rebuilds go the same way; set-aside events are tried again by ``retry``.

Commit order equals notification order in the event store (eventsourcing locks the table on
insert; its database functions, which would skip that lock, stay off), so reading on from the
last position never misses an event committed later with a smaller id.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from uuid import UUID

from eventsourcing.persistence import StoredEvent

from domain.service import Towns
from projections import set_aside
from projections.base import Projection, Recorded, utc_now
from projections.log import LogReader, ReadAhead
from projections.set_aside import SetAside
from projections.errors import Busy, NotSetAside, RebuildRefused  # noqa: F401 - theirs
from projections.rebuilds import rebuild
from projections.retries import Retried, retry
from projections.store import Tx, ViewStore, unreachable

log = logging.getLogger("towns.projections")

BATCH = 1000


@dataclass(frozen=True)
class Status:
    name: str
    position: int
    head: int
    set_aside: int = 0  # events set aside and not taken since

    @property
    def lag(self) -> int:
        return max(0, self.head - self.position)


class ProjectionRunner:
    def __init__(self, towns: Towns, store: ViewStore, projections: Sequence[Projection]) -> None:
        self.towns = towns
        self.store = store
        self.projections = {p.name: p for p in projections}
        self.log = LogReader(towns.recorder)
        self.ahead = ReadAhead(self.log)  # catching up: the next page read meanwhile
        self._at_head: dict[str, bool] = {}  # per view: its last step reached the head
        self._topic_sets: dict[str, frozenset[str]] = {}
        self.switch_checks: dict[str, Callable[[Tx, dict[str, str]], str | None]] = {}
        """Per view, what a rebuild asks of the rebuilt tables before it switches: None, or
        why it must not (see ``rebuild``)."""

    def setup(self) -> None:
        self.store.ensure_positions()
        with self.store.transaction() as tx:
            tx.execute(set_aside.TABLE)
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

    def run_once(self, name: str, batch: int | None = None) -> int | None:
        """Projects the next batch (``batch`` events at most, else the projection's own size
        or ``BATCH``); the number of events it passed (set-aside ones included; for a view
        that reads the stored bytes, of every topic, for one that decodes, of its own; 0 at
        the head), or None when another runner holds it. ``at_head`` says whether it reached
        the head."""
        view = self.projection(name)
        return self.step(view, name, view.live_names(), _size(view, batch))

    def catch_up(self, name: str, batch: int | None = None) -> int:
        """Projects until the head (a short page); the number of events passed by this call
        (as ``run_once`` counts them)."""
        total = 0
        while (count := self.run_once(name, batch)):
            total += count
            if self.at_head(name):
                break
        return total

    def catch_up_all(self) -> dict[str, int]:
        return {name: self.catch_up(name) for name in self.projections}

    def step(self, projection: Projection, key: str, names: dict, batch: int) -> int | None:
        """The next batch in one transaction; if the view cannot take it, the batch again, one
        event at a time (``_one_by_one``), in another."""
        self._at_head[key] = False
        try:
            with self.store.transaction() as tx:
                if not tx.try_lock(key, derived=True):
                    return None
                count, short = self._advance(tx, projection, key, names, batch)
            self._at_head[key] = short  # once committed
            return count
        except Exception as error:
            if unreachable(error):
                raise
        with self.store.transaction() as tx:
            if not tx.try_lock(key):
                return None
            return self._one_by_one(tx, projection, key, names, batch)

    def _advance(self, tx: Tx, projection: Projection, key: str, names: dict, batch: int) -> tuple[int, bool]:
        """The next page applied; the number of the log's events it passed, and whether it
        reached the head. The head is read first (commit order is notification order: all up
        to it was committed), so a short page (never one read ahead) holds every event up to
        the head: the position moves to the head, past other topics, without another pass
        finding nothing."""
        position = self.store.position(tx, key)
        head = self.towns.recorder.max_notification_id() or 0
        recorded, passed, end, short = self._page(projection, position, batch, head)
        if recorded:
            projection.apply(tx, names, recorded)
        if end > position:
            self.store.set_position(tx, key, end, utc_now())
        return passed, short

    def at_head(self, name: str) -> bool:
        """Whether the last step of ``name`` (``run_once``) reached the head (a short page)."""
        return self._at_head.get(name, False)

    def _page(self, projection: Projection, position: int, batch: int,
              head: int) -> tuple[list[Recorded], int, int, bool]:
        """The next page after ``position`` as the projection reads it: its events of the
        projection's topics, how many of the log's events it passed, where it ends, and
        whether it is short (holds all up to the head). A projection that reads the stored
        bytes takes the shared page of every topic (``ReadAhead``), read once for the views
        that step from the same position; one that decodes reads its topics."""
        if self._plain(projection):
            page = self.ahead.page(position, batch, head)
            topics = self._topics(projection)
            recorded = ([r for r in page.records if r.topic in topics] if topics
                        else page.records)
            return recorded, len(page.records), page.covered, not page.full
        decode = self.towns.mapper.to_domain_event
        recorded = [Recorded(n.id, n.topic, decode(n), n.state, n.originator_id,
                             n.originator_version)
                    for n in self.towns.recorder.select_notifications(
                        start=position, limit=batch, topics=projection.topics,
                        inclusive_of_start=False)]
        short = len(recorded) < batch
        last = recorded[-1].position if recorded else position
        return recorded, len(recorded), max(last, head) if short else last, short

    def _topics(self, projection: Projection) -> frozenset[str]:
        """The projection's topics as a set (empty: every topic), made once."""
        topics = self._topic_sets.get(projection.name)
        if topics is None:
            topics = self._topic_sets[projection.name] = frozenset(projection.topics)
        return topics

    def _one_by_one(self, tx: Tx, projection: Projection, key: str, names: dict,
                    batch: int) -> int:
        """The next batch an event at a time, each decoded and applied inside a savepoint;
        one that fails is set aside. The position moves past all of them, in ``tx``."""
        position = self.store.position(tx, key)
        notes = self.log.after(position, batch, projection.topics)
        for note in notes:
            self._take(tx, projection, key, names, note)
        if notes:
            self.store.set_position(tx, key, notes[-1].position, utc_now())
        return len(notes)

    def _take(self, tx: Tx, projection: Projection, key: str, names: dict,
              note: Recorded) -> None:
        """Applies one event inside a savepoint, or sets it aside."""
        try:
            with tx.savepoint():
                projection.apply(tx, names, [self._decoded(projection, note)])
            return
        except Exception as error:
            if unreachable(error):
                raise
            reason = set_aside.reason_of(error)
        set_aside.record(tx, key, note, reason, utc_now())
        log.warning("%s set aside the event at log position %d (%s): %s", key, note.position,
                    set_aside.storable(str(note.topic), set_aside.TEXT_CHARS), reason)

    def _plain(self, projection: Projection) -> bool:
        """Whether the projection reads the stored JSON as it is (no decoding)."""
        mapper = self.towns.mapper
        return mapper.compressor is None and mapper.cipher is None and not projection.decodes

    def _decoded(self, projection: Projection, note: Recorded) -> Recorded:
        """``note`` (read undecoded) as the projection reads it."""
        if self._plain(projection):
            return note
        originator = note.originator_id
        stored = StoredEvent(originator if isinstance(originator, UUID) else UUID(originator),
                             note.originator_version, note.topic, note.state)
        return note._replace(event=self.towns.mapper.to_domain_event(stored))

    # -- reading the state of things ---------------------------------------------------------

    def status(self) -> list[Status]:
        head = self.towns.recorder.max_notification_id() or 0
        with self.store.transaction() as tx:
            aside = set_aside.open_counts(tx)
            return [Status(n, self.store.position(tx, n), head, aside.get(n, 0))
                    for n in self.projections]

    def set_aside(self, names: list[str] | tuple[str, ...] = (), open_only: bool = True,
                  after: tuple[str, int] | None = None,
                  limit: int | None = None) -> list[SetAside]:
        """The events set aside (``projections.set_aside.listed``), by projection and position."""
        for name in names:
            self.projection(name)
        with self.store.transaction(read_only=True) as tx:
            return set_aside.listed(tx, names, open_only, after, limit)

    # -- rebuilding --------------------------------------------------------------------------

    def rebuild(self, name: str, batch: int | None = None, wait: float = 30.0,
                on_progress: Callable[[int, int], None] | None = None) -> int:
        """Builds the projection from zero beside the live tables, then switches in one
        transaction (``projections.rebuilds.rebuild``); the position it switched at."""
        return rebuild(self, name, _size(self.projection(name), batch), wait, on_progress)

    def advance_or_set_aside(self, tx: Tx, projection: Projection, key: str, names: dict,
                             batch: int) -> int:
        """``_advance`` in a savepoint, else ``_one_by_one``, in ``tx`` (the switch's locks);
        the number of events passed, 0 once at the head (a short page): the switch stops."""
        try:
            with tx.savepoint():
                passed, short = self._advance(tx, projection, key, names, batch)
                return 0 if short else passed
        except Exception as error:
            if unreachable(error):
                raise
        return self._one_by_one(tx, projection, key, names, batch)

    # -- trying set-aside events again -------------------------------------------------------

    def retry(self, name: str, position: int | None = None,
              on_progress: Callable[[int, int], None] | None = None) -> Retried:
        """Tries the projection's open set-aside events again (``projections.retries``);
        ``on_progress`` is told of its rebuild as ``rebuild`` tells it."""
        return retry(self, name, position, on_progress)


def _size(projection: Projection, batch: int | None) -> int:
    return batch if batch is not None else projection.batch or BATCH

