"""What the domain needs from the store of events, declared: ``Store``.

The service's recorders (``adapters.recorders``) provide all of it, and a unit test holds both
to it (``tests/unit/test_store_protocol.py``). Any other recorder of the library (its in-memory
one, its own SQLite and PostgreSQL recorders, what the benchmarks measure us against) is used
through ``LibraryStore``, which does without what the library cannot do: it never saves on
condition, reads many aggregates one at a time and cannot tell log positions.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol, runtime_checkable
from uuid import UUID


@runtime_checkable
class Store(Protocol):
    saves_on_condition: bool
    """``insert_events(events, absent=[ids])`` records the events only if none of the
    aggregates ``absent`` names has an event, and raises ``domain.work.PresentAggregate``
    otherwise, recording nothing."""

    def insert_events(self, stored_events: Sequence[Any], **kwargs: Any) -> Sequence[int] | None:
        """Records the events in one transaction (``absent``: see ``saves_on_condition``)."""

    def select_events(
        self,
        originator_id: UUID | str,
        *,
        gt: int | None = None,
        lte: int | None = None,
        desc: bool = False,
        limit: int | None = None,
    ) -> Sequence[Any]:
        """One aggregate's stored events, by version."""

    def select_notifications(
        self,
        start: int | None,
        limit: int,
        stop: int | None = None,
        topics: Sequence[str] = (),
        *,
        inclusive_of_start: bool = True,
    ) -> Sequence[Any]:
        """Stored events in log order, with their notification ids (log positions)."""

    def max_notification_id(self) -> int | None:
        """The last log position; None when nothing is recorded."""

    def select_events_of(self, ids: Sequence[UUID], first_only: bool = False) -> list[Any]:
        """The stored events of every aggregate named, by aggregate and version, in one read
        (``first_only``: their first events only)."""

    def position_of(self, originator_id: UUID, version: int) -> int | None:
        """The log position of one stored event; None if there is none or the store cannot
        tell."""


class LibraryStore:
    """``Store`` over a recorder of the library that has none of the service's additions."""

    saves_on_condition = False

    def __init__(self, recorder: Any) -> None:
        self.recorder = recorder

    def insert_events(self, stored_events: Sequence[Any], **kwargs: Any) -> Sequence[int] | None:
        return self.recorder.insert_events(stored_events, **kwargs)

    def select_events(
        self,
        originator_id: UUID | str,
        *,
        gt: int | None = None,
        lte: int | None = None,
        desc: bool = False,
        limit: int | None = None,
    ) -> Sequence[Any]:
        return self.recorder.select_events(originator_id, gt=gt, lte=lte, desc=desc, limit=limit)

    def select_notifications(
        self,
        start: int | None,
        limit: int,
        stop: int | None = None,
        topics: Sequence[str] = (),
        *,
        inclusive_of_start: bool = True,
    ) -> Sequence[Any]:
        return self.recorder.select_notifications(
            start, limit, stop, topics, inclusive_of_start=inclusive_of_start
        )

    def max_notification_id(self) -> int | None:
        return self.recorder.max_notification_id()

    def select_events_of(self, ids: Sequence[UUID], first_only: bool = False) -> list[Any]:
        lte = 1 if first_only else None
        return [e for i in ids for e in self.recorder.select_events(i, lte=lte)]

    def position_of(self, originator_id: UUID, version: int) -> int | None:
        return None


def store_of(recorder: Any) -> Store:
    """The recorder as the domain uses it: itself if it is a ``Store``."""
    return recorder if isinstance(recorder, Store) else LibraryStore(recorder)
