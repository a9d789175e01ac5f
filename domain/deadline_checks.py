"""The deadline check (DOMAIN.md, "The deadline"), as part of the application service: lapses
at cutoff + grace, reinstatement by timely evidence that arrives late, and the record that a
call's check has run. Mixed into ``domain.service.Towns``."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from uuid import UUID

from eventsourcing.persistence import IntegrityError

from domain import deadline
from domain.applications import Application, Meta
from domain.calls import Call
from domain.commands import Command
from domain.principals import SYSTEM_ACTOR
from domain.work import Work

SAVE_ATTEMPTS = 3
CHECK_CHUNK = 500


@dataclass(frozen=True)
class DeadlineRun:
    """What one run of a call's deadline check did."""

    call_id: str
    as_of: datetime
    due: bool
    checked: int = 0
    lapsed: list[str] = field(default_factory=list)
    first_run: bool = False



class DeadlineChecks:
    """Needs the application service's ``call``, ``repository``, ``recorder``, ``save``,
    ``_save``, ``application_ids``, a ``_checked_at`` dict and ``saves_on_condition``."""

    def check_deadline(
        self,
        call_id: str,
        as_of: datetime,
        candidates: Sequence[UUID] | None = None,
        since: int | None = None,
    ) -> DeadlineRun:
        """Lapses every application of the call short of the condition at the cutoff.

        Does nothing before cutoff + grace; running it again changes nothing. ``candidates``
        narrows the applications loaded to those a caught-up read model says may be short
        (meeting the condition is permanent, so the others need no look); without it every
        application of the call is loaded. Applications first recorded while the check ran are
        checked after it is recorded, so none slips between the two; ``since``, the log
        position the candidates were chosen at, makes that "while the candidates were chosen".
        """
        call = self.call(call_id)
        if as_of < call.check_due_at:
            return DeadlineRun(call.id, as_of, due=False)
        first_run = self.checked_at(call) is None
        start = self.recorder.max_notification_id() or 0
        if since is not None:
            start = min(start, since)
        ids = list(self.application_ids(call.id)) if candidates is None else list(candidates)
        checked, lapsed = self._check_ids(call, ids, as_of)
        if first_run:
            try:
                self.save(
                    deadline.DeadlineCheck.ran(call.id, call.cutoff, as_of, checked, sorted(lapsed))
                )
            except IntegrityError:
                first_run = False  # another run recorded it first
        seen = set(ids)
        late = [i for i in self.application_ids(call.id, after=start) if i not in seen]
        more, found = self._check_ids(call, late, as_of)
        return DeadlineRun(call.id, as_of, True, checked + more, sorted(lapsed + found), first_run)

    def _check_ids(self, call: Call, ids: Sequence[UUID], as_of: datetime) -> tuple[int, list[str]]:
        checked, lapsed = 0, []
        for start in range(0, len(ids), CHECK_CHUNK):
            c, found = self._check_chunk(call, ids[start : start + CHECK_CHUNK], as_of)
            checked, lapsed = checked + c, lapsed + found
        return checked, lapsed

    def _check_chunk(
        self, call: Call, ids: Sequence[UUID], as_of: datetime
    ) -> tuple[int, list[str]]:
        for attempt in range(SAVE_ATTEMPTS):
            work = Work(self.repository)
            work.hold(self._read_many(ids))
            checked, lapsed = 0, []
            for app_id in ids:
                app = work.get(app_id)
                if app is None or not deadline.subject_to_check(app.status):
                    continue
                checked += 1
                if self._lapse_if_short(call, app, as_of):
                    lapsed.append(app.application_ref)
            try:
                self._save(work)
                return checked, lapsed
            except IntegrityError:
                if attempt == SAVE_ATTEMPTS - 1:
                    raise
        raise AssertionError("unreachable")

    def _lapse_if_short(self, call: Call, app: Application, as_of: datetime) -> bool:
        missing = deadline.shortfalls(app.recommended_at, app.receipts, call.cutoff)
        if not missing:
            return False
        meta = Meta(call.check_due_at, SYSTEM_ACTOR.as_dict(), _check_message_id(call))
        data = {
            "cutoff": call.cutoff.isoformat(),
            "grace_seconds": call.grace_seconds,
            "missing": missing,
            "checked_as_of": as_of.isoformat(),
        }
        app.record(Application.Lapsed, meta, data)
        return True

    def _reinstate_if_met(self, call: Call, app: Application, command: Command) -> None:
        if deadline.shortfalls(app.recommended_at, app.receipts, call.cutoff):
            return
        meta = Meta(
            command.occurred_at, SYSTEM_ACTOR.as_dict(), f"reinstate:{command.message_id}"
        )
        data = {
            "status": app.underlying_status,
            "cutoff": call.cutoff.isoformat(),
            "evidence": command.message_id,
            "detail": f"timely {command.type} dated {command.occurred_at.isoformat()} "
            "met the condition after the lapse",
        }
        app.record(Application.Reinstated, meta, data)

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
            if on_condition and work is not None and self.saves_on_condition:
                work.require_absent(check_id)
                return None
            check = (work or Work(self.repository)).get(check_id, self._read_check)
            if check is None:
                return None
            self._checked_at[check_id] = check.ran_at
        return self._checked_at[check_id]

    def _read_many(self, ids: Sequence[UUID]) -> dict[UUID, Application | None]:
        """The aggregates ``ids`` names, from one read of all their events, on a store that
        reads many at once; nothing (so each is read on its own) on one that does not.
        Each is folded from its first event; snapshots only save work on a single read."""
        select = getattr(self.recorder, "select_events_of", None)
        if select is None:
            return {}
        histories: dict[UUID, list] = {app_id: [] for app_id in ids}
        for stored in select(list(ids)):
            histories[stored.originator_id].append(stored)
        decode = self.mapper.to_domain_event
        folded: dict[UUID, Application | None] = {}
        for app_id, history in histories.items():
            aggregate = None
            for stored in history:
                aggregate = decode(stored).mutate(aggregate)
            folded[app_id] = aggregate
        return folded

    def _read_check(self, check_id: UUID) -> deadline.DeadlineCheck | None:
        """A check from its first event, ``Ran``, in one query (checks are never snapshotted,
        so the repository's look at the snapshots first would be a second query for nothing)."""
        for ran in self.events.get(check_id, lte=1):
            return ran.mutate(None)
        return None


def _check_message_id(call: Call) -> str:
    return f"deadline-check:{call.id}:{call.cutoff.isoformat()}"
