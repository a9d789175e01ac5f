"""When each call's deadline check ran, as this process knows it: read once, then remembered
(a check that has run stays run)."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from eventsourcing.application import Repository
from eventsourcing.persistence import EventStore

from domain import deadline
from domain.calls import Call
from domain.store import Store
from domain.work import Work


class CheckLog:
    """Reads the checks' records (``deadline.DeadlineCheck``) through ``events`` and
    ``repository``; ``store`` says whether a save can be made on condition that one has not."""

    def __init__(self, store: Store, repository: Repository, events: EventStore) -> None:
        self.store = store
        self.repository = repository
        self.events = events
        self._checked_at: dict[UUID, datetime] = {}

    def checked_at(
        self, call: Call, work: Work | None = None, on_condition: bool = False
    ) -> datetime | None:
        """When (record time) the call's check first ran; None if it has not.

        With ``on_condition``, on a store that saves on condition, a check this process has not
        seen run is not read: ``work`` is saved only if the check still has not run when it
        commits (``Work.require_absent``), and otherwise fails to be decided again on fresh
        reads. A check that has run stays known, so it is read at most once per process."""
        check_id = deadline.deadline_check_id(call.id, call.cutoff)
        if check_id not in self._checked_at:
            if on_condition and work is not None and self.store.saves_on_condition:
                work.require_absent(check_id)
                return None
            check = (work or Work(self.repository)).get(check_id, self._read_check)
            if check is None:
                return None
            self._checked_at[check_id] = check.ran_at
        return self._checked_at[check_id]

    def _read_check(self, check_id: UUID) -> deadline.DeadlineCheck | None:
        """A check from its first event, ``Ran``, in one query (checks are never snapshotted,
        so the repository's look at the snapshots first would be a second query for nothing)."""
        for ran in self.events.get(check_id, lte=1):
            return ran.mutate(None)
        return None
