"""``Towns``: the application service. One method per command; each checks the contract's
refusals in DOMAIN.md's order, changes the aggregate, and saves its events together with the
message's inbox marker in one transaction.

Order of refusals handled here (the edge has already refused unauthenticated, malformed,
schema_invalid, unknown_type): unknown_call → forbidden (actor, role) → [repeat: duplicate or
idempotency_conflict] → unknown_application → forbidden (jurisdiction, ownership) →
schema_invalid (resubmitted track fields) → deadline_passed → invalid_transition →
precondition_failed.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Callable
from uuid import UUID

from eventsourcing.application import Application as EventSourcedApplication
from eventsourcing.application import ProcessingEvent
from eventsourcing.persistence import IntegrityError

from domain import criteria, deadline
from domain import lifecycle as lc
from domain.applications import Application, Meta, application_id
from domain.calls import Call
from domain.commands import Command, Outcome
from domain.deadline_checks import SAVE_ATTEMPTS, DeadlineChecks
from domain.errors import (
    DeadlinePassed,
    DomainError,
    Forbidden,
    IdempotencyConflict,
    InvalidTransition,
    PreconditionFailed,
    SchemaInvalid,
    UnknownApplication,
    UnknownCall,
)
from domain.inbox import InboxMessage, inbox_id
from domain.indicators import missing_track_fields
from domain.principals import APPLICANT, CITY, Principal
from domain.reading import Reading
from domain.work import AggregateCache, Work


class Towns(DeadlineChecks, Reading, EventSourcedApplication):
    """The applications of every call, as event-sourced aggregates."""

    name = "Towns"
    snapshotting_intervals = {Application: 50}

    def __init__(self, calls: Mapping[str, Call], env: Mapping[str, str] | None = None) -> None:
        super().__init__(env)
        self.calls = dict(calls)
        self._checked_at: dict[UUID, datetime] = {}
        self.saves_on_condition = getattr(self.recorder, "saves_on_condition", False)
        self._cache = AggregateCache()
        self._writing = threading.RLock()
        self._handlers: dict[str, Callable[[Call, Application, Command], None]] = {
            lc.RESUBMIT: self.resubmit,
            lc.WITHDRAW: self.withdraw,
            lc.RETURN: self.return_for_correction,
            lc.VERIFY: self.verify,
            lc.RECOMMEND: self.recommend,
            lc.REJECT: self.reject,
            lc.RECEIVE_MATERIALS: self.receive_materials,
            lc.EVALUATE: self.evaluate,
            lc.APPROVE: self.approve,
        }

    # -- entry points ------------------------------------------------------------------------

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
        """``Application.save`` for aggregates we know: the library's version tells events from
        aggregates with runtime protocol checks that cost more than the rest of a small save."""
        changed = work.changed()
        if changed:
            processing = ProcessingEvent()
            for aggregate in changed:
                processing.events.extend(aggregate.collect_events())
                processing.aggregates[aggregate.id] = aggregate
            if work.absent:
                processing.saved_kwargs["absent"] = sorted(work.absent)
            recordings = self._record(processing)
            self._take_snapshots(processing)
            self._notify(recordings)
        work.saved()

    # -- deciding ----------------------------------------------------------------------------

    def decide(
        self, work: Work, command: Command, principal: Principal, check_repeat: bool = True
    ) -> Outcome:
        """Checks and applies one command within ``work``; nothing is saved here.

        Without ``check_repeat`` a repeat is left to the inbox marker's unique key at the save.
        """
        call = self.call(command.call_id)
        self._authorise_actor(command, principal)
        marker_id = inbox_id(command.message_id)
        marker = work.get(marker_id) if check_repeat else work.held(marker_id)
        if marker is not None:
            return self._repeat(work, marker, command, principal)
        # Rules are checked before any event is triggered, so a refusal records nothing.
        if command.type == lc.SUBMIT:
            app = self.submit(work, call, command, principal, check_repeat)
        else:
            app = self._existing(work, call, command)
            self._authorise_reach(app, command, principal)
            self._handlers[command.type](call, app, command)
        work.add(
            InboxMessage.applied(
                command.message_id, command.digest, app.id, principal.name, marker_id
            )
        )
        return Outcome(call.id, app.application_ref, app.status, app.version)

    def call(self, call_id: str) -> Call:
        try:
            return self.calls[call_id]
        except KeyError:
            raise UnknownCall(f"no call {call_id!r}", {"call_id": call_id}) from None

    def _authorise_actor(self, command: Command, principal: Principal) -> None:
        actor = command.actor
        if not principal.may_act_as(actor):
            raise Forbidden(
                f"principal {principal.name!r} ({principal.role}"
                f"{', ' + principal.city if principal.city else ''}) may not act as a "
                f"{actor.role}{' of ' + actor.city if actor.city else ''}",
                {"actor": actor.as_dict(), "principal": principal.name},
            )
        if lc.transition_for(command.type, actor.role) is None:
            raise Forbidden(
                f"the role {actor.role} never sends {command.type}",
                {"type": command.type, "role": actor.role},
            )

    def _repeat(
        self, work: Work, marker: InboxMessage, command: Command, principal: Principal
    ) -> Outcome:
        # A repeat answers only someone who could have sent the original: another city or
        # another applicant learns nothing about an application that is not theirs.
        self._authorise_reach(work.get(UUID(marker.application_id)), command, principal)
        if marker.digest != command.digest:
            marker.conflict_seen(command.digest, command.body, principal.name)
            raise IdempotencyConflict(
                f"message {command.message_id!r} was already applied with another body",
                {"message_id": command.message_id},
            )
        app = work.get(UUID(marker.application_id))
        return Outcome(app.call_id, app.application_ref, app.status, app.version, duplicate=True)

    def _existing(self, work: Work, call: Call, command: Command) -> Application:
        app = work.get(application_id(call.id, command.application_ref))
        if app is None:
            raise UnknownApplication(
                f"application {command.application_ref!r} has never been submitted to {call.id}",
                {"application_ref": command.application_ref, "call_id": call.id},
            )
        return app

    def _authorise_reach(self, app: Application, command: Command, principal: Principal) -> None:
        if principal.role == CITY and app.city != principal.city:
            raise Forbidden(
                f"{principal.city} may not act on {app.application_ref}, an application of "
                f"{app.city}",
                {"application_city": app.city, "principal_city": principal.city},
            )
        if principal.role == APPLICANT and app.owner != principal.name:
            raise Forbidden(
                f"{app.application_ref} belongs to another applicant",
                {"application_ref": app.application_ref, "principal": principal.name},
            )

    def _check_transition(self, call: Call, app: Application, command: Command) -> None:
        row = lc.transition_for(command.type, command.actor.role)
        state = app.status
        if state == lc.LAPSED:
            if command.type not in lc.EVIDENCE_TYPES or command.occurred_at > call.cutoff:
                raise InvalidTransition(
                    f"{app.application_ref} lapsed at the deadline; only {', '.join(sorted(lc.EVIDENCE_TYPES))} "
                    f"dated no later than the cutoff {call.cutoff.isoformat()} may still be recorded",
                    {"status": state, "event": command.type},
                )
            state = app.underlying_status
        if not row.allows(state):
            allowed = lc.allowed_states(command.type, command.actor.role)
            raise InvalidTransition(
                f"{command.type} by a {command.actor.role} is not allowed while {state}"
                f" (only while {', '.join(allowed)})",
                {"status": state, "event": command.type, "allowed_while": list(allowed)},
            )

    # -- one method per command --------------------------------------------------------------

    def submit(
        self,
        work: Work,
        call: Call,
        command: Command,
        principal: Principal,
        check_repeat: bool = True,
    ) -> Application:
        """Without ``check_repeat``, an existing application is left to the unique key of its
        first event at the save (which then fails, and the service decides again on fresh reads)."""
        payload = command.payload
        if payload["city"] != principal.city:
            raise Forbidden(
                f"an applicant of {principal.city} may not submit for {payload['city']}",
                {"payload.city": payload["city"], "principal_city": principal.city},
            )
        existing = (work.get if check_repeat else work.held)(
            application_id(call.id, command.application_ref)
        )
        if existing is not None:
            # Someone else's application is forbidden before anything else is said of it.
            self._authorise_reach(existing, command, principal)
        if command.occurred_at > call.cutoff:
            raise DeadlinePassed(
                f"submitted {command.occurred_at.isoformat()}, after the cutoff "
                f"{call.cutoff.isoformat()}",
                {"occurred_at": command.occurred_at.isoformat(), "cutoff": call.cutoff.isoformat()},
            )
        if existing is not None:
            raise InvalidTransition(
                f"{command.application_ref} has already been submitted to {call.id}",
                {"status": "exists", "event": command.type},
            )
        data = {
            "call_id": call.id,
            "application_ref": command.application_ref,
            "town_name": payload["town_name"],
            "track": payload["track"],
            "city": payload["city"],
            "applicant": payload["applicant"],
            "indicators": payload["indicators"],
            "attestation": payload["attestation"],
            "owner": principal.name,
        }
        app = Application.submit(_meta(command), data)
        work.add(app)
        checked_at = self.checked_at(call, work, on_condition=not check_repeat)
        if checked_at is not None:
            self._lapse_if_short(call, app, checked_at)
        return app

    def resubmit(self, call: Call, app: Application, command: Command) -> None:
        missing = missing_track_fields(app.track, command.payload["indicators"])
        if missing:
            raise SchemaInvalid(
                f"the resubmitted indicators lack {', '.join(missing)} of the {app.track} track",
                {f"payload.indicators.{name}": f"required for the {app.track} track" for name in missing},
            )
        self._check_transition(call, app, command)
        app.record(Application.Resubmitted, _meta(command), command.payload)

    def withdraw(self, call: Call, app: Application, command: Command) -> None:
        self._transition(call, app, command, Application.Withdrawn)

    def return_for_correction(self, call: Call, app: Application, command: Command) -> None:
        self._transition(call, app, command, Application.Returned)

    def verify(self, call: Call, app: Application, command: Command) -> None:
        self._transition(call, app, command, Application.CityVerified)

    def recommend(self, call: Call, app: Application, command: Command) -> None:
        self._transition(call, app, command, Application.Recommended)

    def reject(self, call: Call, app: Application, command: Command) -> None:
        self._transition(call, app, command, Application.Rejected)

    def receive_materials(self, call: Call, app: Application, command: Command) -> None:
        self._transition(call, app, command, Application.MaterialsReceived)

    def evaluate(self, call: Call, app: Application, command: Command) -> None:
        self._check_transition(call, app, command)
        if not deadline.materials_complete(app.receipts):
            paper, electronic = deadline.materials_totals(app.receipts)
            raise PreconditionFailed(
                f"materials are incomplete: {paper} of 2 paper copies (A4, bound) and "
                f"{electronic} of 1 electronic copy (labelled) received",
                {"paper_copies": paper, "electronic_copies": electronic},
            )
        results = criteria.assess(app.track, app.region, app.indicators)
        results = criteria.apply_waivers(results, command.payload.get("waivers", []))
        data = {**command.payload, "criteria": [r.as_dict() for r in results]}
        app.record(Application.Evaluated, _meta(command), data)

    def approve(self, call: Call, app: Application, command: Command) -> None:
        self._check_transition(call, app, command)
        results = [criteria.ClauseResult(**r) for r in app.evaluation["criteria"]]
        ok, blocking = criteria.approvable(results)
        if not ok:
            raise PreconditionFailed(
                f"approval needs no failing clause and every warning waived: {', '.join(blocking)}",
                {"clauses": blocking},
            )
        app.record(Application.Approved, _meta(command), command.payload)

    def _transition(
        self, call: Call, app: Application, command: Command, event_class: type[Application.Event]
    ) -> None:
        self._check_transition(call, app, command)
        was_lapsed = app.status == lc.LAPSED
        app.record(event_class, _meta(command), command.payload)
        if was_lapsed:
            self._reinstate_if_met(call, app, command)

def _meta(command: Command) -> Meta:
    return Meta(command.occurred_at, command.actor.as_dict(), command.message_id)


