"""A unit of work: the aggregates one or more commands load and change, saved in one transaction.

Commands decide against the aggregates held here, so a later command of the same batch sees what
an earlier one did before anything is saved (the consumer's group commit relies on this).

Aggregates may come from a process-local cache. That is safe for writes because every new event
takes the next version of its aggregate: a decision made on a stale copy collides with the
stored event of that version and the save fails, and the caller then decides again on fresh
reads. Refusals write nothing, so the service re-checks them on fresh reads before answering.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any, Callable
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError, Repository
from eventsourcing.persistence import IntegrityError


class PresentAggregate(IntegrityError):
    """A save made on condition that an aggregate does not exist found that it does; nothing
    was recorded (see ``Work.require_absent``)."""


class AggregateCache:
    """Least-recently-used aggregates, as last saved or read by this process."""

    def __init__(self, maxsize: int = 10_000) -> None:
        self.maxsize = maxsize
        self._items: OrderedDict[UUID, Any] = OrderedDict()

    def get(self, aggregate_id: UUID) -> Any | None:
        aggregate = self._items.get(aggregate_id)
        if aggregate is not None:
            self._items.move_to_end(aggregate_id)
        return aggregate

    def put(self, aggregate: Any) -> None:
        self._items[aggregate.id] = aggregate
        self._items.move_to_end(aggregate.id)
        while len(self._items) > self.maxsize:
            self._items.popitem(last=False)

    def evict(self, ids: list[UUID]) -> None:
        for aggregate_id in ids:
            self._items.pop(aggregate_id, None)


class Work:
    def __init__(self, repository: Repository, cache: AggregateCache | None = None) -> None:
        self._repository = repository
        self._cache = cache
        self._held: dict[UUID, Any] = {}
        self.used_cache = False
        self.absent: set[UUID] = set()

    def get(self, aggregate_id: UUID, load: Callable[[UUID], Any] | None = None) -> Any | None:
        """The aggregate as this unit of work sees it; None when it does not exist.

        ``load`` reads it when neither this unit nor the cache holds it (the repository by
        default); whatever it returns, None included, is held for the rest of the unit."""
        if aggregate_id not in self._held:
            cached = self._cache.get(aggregate_id) if self._cache else None
            if cached is not None:
                self.used_cache = True
                self._held[aggregate_id] = cached
            else:
                self._held[aggregate_id] = (load or self._load)(aggregate_id)
        return self._held[aggregate_id]

    def hold(self, aggregates: dict[UUID, Any]) -> None:
        """Aggregates read together elsewhere (None: does not exist), as if ``get`` had read them."""
        self._held.update(aggregates)

    def held(self, aggregate_id: UUID) -> Any | None:
        """The aggregate if this unit of work already holds it; never reads."""
        return self._held.get(aggregate_id)

    def _load(self, aggregate_id: UUID) -> Any | None:
        try:
            return self._repository.get(aggregate_id)
        except AggregateNotFoundError:
            return None

    def require_absent(self, aggregate_id: UUID) -> None:
        """Saves this work only if ``aggregate_id`` still has no event: the store checks it
        under its write lock and raises ``PresentAggregate`` otherwise. Only for stores whose
        recorder ``saves_on_condition``."""
        self.absent.add(aggregate_id)

    def add(self, aggregate: Any) -> None:
        self._held[aggregate.id] = aggregate

    def changed(self) -> list[Any]:
        """The aggregates with events not yet saved."""
        return [a for a in self._held.values() if a is not None and a.pending_events]

    def saved(self) -> None:
        """After the commit: what this work holds is the stored state."""
        self.absent.clear()
        if self._cache is not None:
            for aggregate in self._held.values():
                if aggregate is not None and getattr(aggregate, "CACHED", True):
                    self._cache.put(aggregate)

    def abandoned(self) -> None:
        """After a failure: forget what this work may have changed."""
        if self._cache is not None:
            self._cache.evict(list(self._held))
