"""A unit of work: the aggregates one or more commands load and change, saved in one transaction.

Commands decide against the aggregates held here, so a later command of the same batch sees what
an earlier one did before anything is saved (the consumer's group commit relies on this).
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError, Repository


class Work:
    def __init__(self, repository: Repository) -> None:
        self._repository = repository
        self._held: dict[UUID, Any] = {}

    def get(self, aggregate_id: UUID) -> Any | None:
        """The aggregate as this unit of work sees it; None when it does not exist."""
        if aggregate_id not in self._held:
            try:
                self._held[aggregate_id] = self._repository.get(aggregate_id)
            except AggregateNotFoundError:
                self._held[aggregate_id] = None
        return self._held[aggregate_id]

    def add(self, aggregate: Any) -> None:
        self._held[aggregate.id] = aggregate

    def changed(self) -> list[Any]:
        """The aggregates with events not yet saved."""
        return [a for a in self._held.values() if a is not None and a.pending_events]

    def pending_count(self) -> int:
        return sum(len(a.pending_events) for a in self.changed())
