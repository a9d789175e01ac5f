"""The deadline check (DOMAIN.md, "The deadline") over a call's applications: lapses at cutoff +
grace, and the record that a call's check has run. What it does to one application is the
aggregate's (``Application.lapse_if_short``); reinstatement by timely evidence is part of the
evidence's own command. A collaborator of the application service (``domain.service.Towns``)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from uuid import UUID

from eventsourcing.application import Repository
from eventsourcing.persistence import IntegrityError

from domain import deadline
from domain.calls import Call
from domain.check_log import CheckLog
from domain.reading import Reader
from domain.store import Store
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


class _Tally:
    """Tells ``on_progress`` (applications looked at, of how many) as chunks are done."""

    def __init__(self, on_progress: Callable[[int, int], None] | None, total: int) -> None:
        self.on_progress, self.done, self.total = on_progress, 0, total

    def __call__(self, count: int) -> None:
        self.done += count
        if self.on_progress is not None:
            self.on_progress(self.done, self.total)


class DeadlineChecks:
    """Runs calls' checks: ``call`` finds a call by its id, ``reader`` lists and reads its
    applications, ``check_log`` says whether the check has run, ``save`` records the check's
    own record and ``save_work`` a unit of work (the service's saves)."""

    def __init__(
        self,
        call: Callable[[str], Call],
        store: Store,
        repository: Repository,
        reader: Reader,
        check_log: CheckLog,
        save: Callable[[deadline.DeadlineCheck], object],
        save_work: Callable[[Work], None],
    ) -> None:
        self.call = call
        self.store = store
        self.repository = repository
        self.reader = reader
        self.check_log = check_log
        self.save = save
        self.save_work = save_work

    def check_deadline(
        self,
        call_id: str,
        as_of: datetime,
        candidates: Sequence[UUID] | None = None,
        since: int | None = None,
        on_progress: Callable[[int, int], None] | None = None,
    ) -> DeadlineRun:
        """Lapses every application of the call short of the condition at the cutoff.

        Does nothing before cutoff + grace; running it again changes nothing. ``candidates``
        narrows the applications loaded to those a caught-up read model says may be short
        (meeting the condition is permanent, so the others need no look); without it every
        application of the call is loaded. Applications first recorded while the check ran are
        checked after it is recorded, so none slips between the two; ``since``, the log
        position the candidates were chosen at, makes that "while the candidates were chosen".
        ``on_progress`` is told (applications looked at, applications to look at) per chunk.
        """
        call = self.call(call_id)
        if as_of < call.check_due_at:
            return DeadlineRun(call.id, as_of, due=False)
        first_run = self.check_log.checked_at(call) is None
        start = self.store.max_notification_id() or 0
        if since is not None:
            start = min(start, since)
        ids = list(self.reader.application_ids(call.id)) if candidates is None else list(candidates)
        tally = _Tally(on_progress, len(ids))
        checked, lapsed = self._check_ids(call, ids, as_of, tally)
        if first_run:
            try:
                self.save(
                    deadline.DeadlineCheck.ran(call.id, call.cutoff, as_of, checked, sorted(lapsed))
                )
            except IntegrityError:
                first_run = False  # another run recorded it first
        seen = set(ids)
        late = [i for i in self.reader.application_ids(call.id, after=start) if i not in seen]
        tally.total += len(late)
        more, found = self._check_ids(call, late, as_of, tally)
        return DeadlineRun(call.id, as_of, True, checked + more, sorted(lapsed + found), first_run)

    def _check_ids(self, call: Call, ids: Sequence[UUID], as_of: datetime,
                   tally: _Tally) -> tuple[int, list[str]]:
        """The chunks in turn. Where the store reads from other threads (``reads_ahead``), the
        next chunk's events are read while this one is decided and saved: the chunks are
        distinct applications, and a read made early is as good as one made later (an event
        recorded meanwhile fails the save, which is then decided again on a fresh read)."""
        chunks = [ids[start : start + CHECK_CHUNK] for start in range(0, len(ids), CHECK_CHUNK)]
        checked, lapsed = 0, []
        if len(chunks) < 2 or not getattr(self.store, "reads_ahead", False):
            for chunk in chunks:
                c, found = self._check_chunk(call, chunk, as_of)
                checked, lapsed = checked + c, lapsed + found
                tally(len(chunk))
            return checked, lapsed
        with ThreadPoolExecutor(1, thread_name_prefix="towns-deadline-read") as pool:
            ahead = pool.submit(self.store.select_events_of, list(chunks[0]))
            for i, chunk in enumerate(chunks):
                records = ahead.result()
                if i + 1 < len(chunks):
                    ahead = pool.submit(self.store.select_events_of, list(chunks[i + 1]))
                c, found = self._check_chunk(call, chunk, as_of, records)
                checked, lapsed = checked + c, lapsed + found
                tally(len(chunk))
        return checked, lapsed

    def _check_chunk(
        self, call: Call, ids: Sequence[UUID], as_of: datetime, records: list | None = None
    ) -> tuple[int, list[str]]:
        """``records``: the chunk's stored events, read already (for the first attempt)."""
        for attempt in range(SAVE_ATTEMPTS):
            work = Work(self.repository)
            work.hold(self.reader.read_many(ids, records if attempt == 0 else None))
            checked, lapsed = 0, []
            for app_id in ids:
                app = work.get(app_id)
                if app is None or not deadline.subject_to_check(app.status):
                    continue
                checked += 1
                if app.lapse_if_short(call, as_of):
                    lapsed.append(app.application_ref)
            try:
                self.save_work(work)
                return checked, lapsed
            except IntegrityError:
                if attempt == SAVE_ATTEMPTS - 1:
                    raise
        raise AssertionError("unreachable")
