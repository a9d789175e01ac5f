"""``Towns``: the application service. It loads, calls the aggregate's command, and saves the
command's events together with the message's inbox marker in one transaction; it keeps only the
checks that need more than one aggregate or outside knowledge.

Order of refusals handled here (the edge has already refused unauthenticated, malformed,
schema_invalid, unknown_type): unknown_call → forbidden (actor, role) → [repeat: duplicate or
idempotency_conflict] → unknown_application → forbidden (jurisdiction, ownership) →
schema_invalid (resubmitted track fields) → deadline_passed → invalid_transition →
precondition_failed.

The service checks, in that order, up to the second forbidden (``domain.authorisation``, the
inbox, the repository: ``domain.deciding.Decider``); the aggregate's command
(``domain.application_commands``) checks the rest.

Collaborators, each built here with what it needs: ``decider`` (``domain.deciding``: one
command's checks and the aggregate's command), ``reader`` (``domain.reading``: reading
applications), ``deadline_checks`` (``domain.deadline_checks``: a call's deadline check),
``check_log`` (``domain.check_log``: when a call's check ran), ``store`` (``domain.store``: what
the domain needs of the recorder). The reading and checking methods below only delegate.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime
from typing import Any, Callable
from uuid import UUID

from eventsourcing.application import Application as EventSourcedApplication
from eventsourcing.persistence import IntegrityError

from domain.applications import Application
from domain.calls import Call
from domain.check_log import CheckLog
from domain.commands import Command, Outcome
from domain.deadline_checks import SAVE_ATTEMPTS, DeadlineChecks, DeadlineRun
from domain.deciding import COMMANDS, Decider
from domain.errors import DomainError, IdempotencyConflict
from domain.history import ChainBreak
from domain.principals import Principal
from domain.reading import Reader, Replay
from domain.store import store_of
from domain.stored_encoding import StoredMapper
from domain.work import AggregateCache, Work

__all__ = ["COMMANDS", "Towns"]


class Towns(EventSourcedApplication):
    """The applications of every call, as event-sourced aggregates."""

    name = "Towns"
    snapshotting_intervals = {Application: 50}

    def __init__(self, calls: Mapping[str, Call], env: Mapping[str, str] | None = None) -> None:
        super().__init__(env)
        self.calls = dict(calls)
        self.store = store_of(self.recorder)
        self.saves_on_condition = self.store.saves_on_condition
        self.check_log = CheckLog(self.store, self.repository, self.events)
        self.decider = Decider(self.calls, self.check_log)
        self.reader = Reader(self.call, self.store, self.mapper, self.repository, self.check_log)
        self.deadline_checks = DeadlineChecks(
            self.call, self.store, self.repository, self.reader, self.check_log,
            save=lambda check: self.save(check), save_work=lambda work: self._save(work),
        )
        self._cache = AggregateCache()
        self._writing = threading.RLock()

    def construct_mapper(self) -> Any:
        """The library's mapper, its events' JSON written by orjson where the bytes are the
        same (``domain.stored_encoding``); a mapper named by ``MAPPER_TOPIC`` is used as given."""
        if self.factory.env.get(self.factory.MAPPER_TOPIC):
            return super().construct_mapper()
        return self.factory.mapper(transcoder=self.construct_transcoder(), mapper_class=StoredMapper)

    # -- entry points ------------------------------------------------------------------------

    def call(self, call_id: str) -> Call:
        """The call ``call_id`` names; ``UnknownCall`` if none."""
        return self.decider.call(call_id)

    def decide(self, work: Work, command: Command, principal: Principal,
               check_repeat: bool = True) -> Outcome:
        """Checks and applies one command within ``work`` (``Decider.decide``); nothing saved."""
        return self.decider.decide(work, command, principal, check_repeat)

    def handle(self, command: Command, principal: Principal) -> Outcome:
        """Applies one command in its own transaction; raises a DomainError when refused.

        The first attempt decides on cached aggregates and leaves the repeat check to the
        inbox marker's unique key; a refusal or a conflicting save is decided again on fresh
        reads, with the marker read first, so that neither a stale copy nor a repeat can
        change the answer.
        """
        with self._writing:
            for attempt in range(SAVE_ATTEMPTS):
                fast = attempt == 0
                work = Work(self.repository, self._cache if fast else None)
                try:
                    outcome = self.decide(work, command, principal, check_repeat=not fast)
                    self._save(work)
                    return outcome
                except IdempotencyConflict:
                    self._save(work)  # the conflicting body, kept as evidence
                    raise
                except DomainError:
                    work.abandoned()
                    if not fast:
                        raise
                except IntegrityError:
                    work.abandoned()
                    if attempt == SAVE_ATTEMPTS - 1:
                        raise
                except BaseException:
                    work.abandoned()
                    raise
        raise AssertionError("unreachable")

    def handle_many(
        self,
        items: Sequence[tuple[Command, Principal]],
        saving: Callable[[], object] | None = None,
    ) -> list[Outcome | DomainError]:
        """Applies commands in order and saves them all in one transaction (group commit).

        Each result is the command's outcome or its refusal. Decisions are made on cached
        aggregates and repeats are left to the inbox markers' unique keys: if the save meets a
        repeat or a concurrent writer, the commands are applied again one at a time, on fresh
        reads; refusals made on cached state are confirmed on fresh reads. ``saving`` is called
        once every command is decided, as the save begins (the consumer uses the wait for the
        commit to parse the deliveries behind).
        """
        with self._writing:
            work = Work(self.repository, self._cache)
            results: list[Outcome | DomainError] = []
            try:
                for command, principal in items:
                    results.append(self._decide_or_refusal(work, command, principal))
                if saving is not None:
                    saving()
                self._save(work)
            except IntegrityError:
                work.abandoned()
                return [self._handle_or_refusal(command, principal) for command, principal in items]
            except BaseException:
                work.abandoned()
                raise
        if work.used_cache and any(isinstance(r, DomainError) for r in results):
            results = [self._recheck(command, principal, r) for (command, principal), r in zip(items, results)]
        return results

    def _decide_or_refusal(self, work: Work, command: Command, principal: Principal) -> Outcome | DomainError:
        try:
            return self.decide(work, command, principal, check_repeat=False)
        except DomainError as error:
            return error

    def _recheck(self, command: Command, principal: Principal, result: Outcome | DomainError) -> Outcome | DomainError:
        """A refusal made on cached state is confirmed (or not) on fresh reads."""
        if not isinstance(result, DomainError) or isinstance(result, IdempotencyConflict):
            return result
        return self._handle_or_refusal(command, principal)

    def _handle_or_refusal(self, command: Command, principal: Principal) -> Outcome | DomainError:
        try:
            return self.handle(command, principal)
        except DomainError as error:
            return error

    def _save(self, work: Work) -> None:
        """Saves what ``work`` changed in one transaction, on condition that the aggregates
        ``work.absent`` names still have no event (``Store.saves_on_condition``)."""
        changed = work.changed()
        if changed:
            self.save(*changed, **({"absent": sorted(work.absent)} if work.absent else {}))
        work.saved()

    # -- delegated: the deadline check, and reading ------------------------------------------

    def check_deadline(
        self,
        call_id: str,
        as_of: datetime,
        candidates: Sequence[UUID] | None = None,
        since: int | None = None,
        on_progress: Callable[[int, int], None] | None = None,
    ) -> DeadlineRun:
        return self.deadline_checks.check_deadline(call_id, as_of, candidates, since, on_progress)

    def checked_at(self, call: Call) -> datetime | None:
        return self.check_log.checked_at(call)

    def application_ids(self, call_id: str, after: int = 0) -> Iterator[UUID]:
        return self.reader.application_ids(call_id, after)

    def events_with_topics(self, topics: Sequence[str], start: int = 0) -> Iterator[Any]:
        return self.reader.events_with_topics(topics, start)

    def application(self, call_id: str, ref: str) -> Application | None:
        return self.reader.application(call_id, ref)

    def application_by_id(self, app_id: UUID) -> Application | None:
        return self.reader.application_by_id(app_id)

    def deadline_outcome(self, app: Application, known_at: datetime | None = None,
                         as_of: datetime | None = None) -> Any:
        return self.reader.deadline_outcome(app, known_at, as_of)

    def replay(self, call_id: str, ref: str, as_of: datetime | None = None,
               known_at: datetime | None = None, version: int | None = None) -> Replay:
        return self.reader.replay(call_id, ref, as_of, known_at, version)

    def verify_application(self, call_id: str, ref: str) -> ChainBreak | None:
        return self.reader.verify_application(call_id, ref)

    def stored_events(self, aggregate_id: UUID) -> list[Application.Event | Exception]:
        return self.reader.stored_events(aggregate_id)

    def decode_stored(self, record: Any) -> Any:
        return self.reader.decode_stored(record)
