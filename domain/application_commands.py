"""The ``Application`` aggregate's commands (``domain.applications`` builds the aggregate on
them): each command method checks the transition table (``domain.lifecycle``) and the guide's
rules that need only this application and its call, in the contract's order of refusals, and
then triggers its event with ``record`` (or ``submit``), the aggregate's unchecked last step.
The events and their mutators, which never refuse, are in ``domain.applications``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Self

from eventsourcing.domain import Aggregate

from domain import criteria, deadline
from domain import lifecycle as lc
from domain.calls import Call
from domain.errors import DeadlinePassed, InvalidTransition, PreconditionFailed, SchemaInvalid
from domain.event_fields import Meta
from domain.indicators import missing_track_fields
from domain.principals import SYSTEM_ACTOR


class ApplicationCommands:
    """The command methods of ``domain.applications.Application`` (a base of it): they use its
    state, its event classes and its ``record``/``submit``."""

    # -- commands: each checks its rules in the contract's order, then triggers its event ----

    @classmethod
    def submit_to(cls, call: Call, meta: Meta, data: dict, exists: bool = False) -> Self:
        """A new application to ``call``; ``exists``: the service found one with this (call,
        ref) already recorded. Refusals: deadline_passed, then invalid_transition."""
        if meta.occurred_at > call.cutoff:
            raise DeadlinePassed(
                f"submitted {meta.occurred_at.isoformat()}, after the cutoff "
                f"{call.cutoff.isoformat()}",
                {"occurred_at": meta.occurred_at.isoformat(), "cutoff": call.cutoff.isoformat()},
            )
        if exists:
            raise InvalidTransition(
                f"{data['application_ref']} has already been submitted to {call.id}",
                {"status": "exists", "event": lc.SUBMIT},
            )
        return cls.submit(meta, data)

    def resubmit(self, call: Call, meta: Meta, payload: dict) -> None:
        missing = missing_track_fields(self.track, payload["indicators"])
        if missing:
            raise SchemaInvalid(
                f"the resubmitted indicators lack {', '.join(missing)} of the {self.track} track",
                {f"payload.indicators.{name}": f"required for the {self.track} track" for name in missing},
            )
        self._check_transition(call, self.Resubmitted, meta)
        self.record(self.Resubmitted, meta, payload)

    def withdraw(self, call: Call, meta: Meta, payload: dict) -> None:
        self._transition(call, self.Withdrawn, meta, payload)

    def return_for_correction(self, call: Call, meta: Meta, payload: dict) -> None:
        self._transition(call, self.Returned, meta, payload)

    def verify(self, call: Call, meta: Meta, payload: dict) -> None:
        self._transition(call, self.CityVerified, meta, payload)

    def recommend(self, call: Call, meta: Meta, payload: dict) -> None:
        self._transition(call, self.Recommended, meta, payload)

    def reject(self, call: Call, meta: Meta, payload: dict) -> None:
        self._transition(call, self.Rejected, meta, payload)

    def receive_materials(self, call: Call, meta: Meta, payload: dict) -> None:
        self._transition(call, self.MaterialsReceived, meta, payload)

    def evaluate(self, call: Call, meta: Meta, payload: dict) -> None:
        self._check_transition(call, self.Evaluated, meta)
        if not deadline.materials_complete(self.receipts):
            paper, electronic = deadline.materials_totals(self.receipts)
            raise PreconditionFailed(
                f"materials are incomplete: {paper} of 2 paper copies (A4, bound) and "
                f"{electronic} of 1 electronic copy (labelled) received",
                {"paper_copies": paper, "electronic_copies": electronic},
            )
        results = criteria.assess(self.track, self.region, self.indicators)
        results = criteria.apply_waivers(results, payload.get("waivers", []))
        self.record(self.Evaluated, meta, {**payload, "criteria": [r.as_dict() for r in results]})

    def approve(self, call: Call, meta: Meta, payload: dict) -> None:
        self._check_transition(call, self.Approved, meta)
        results = [criteria.ClauseResult(**r) for r in self.evaluation["criteria"]]
        ok, blocking = criteria.approvable(results)
        if not ok:
            raise PreconditionFailed(
                f"approval needs no failing clause and every warning waived: {', '.join(blocking)}",
                {"clauses": blocking},
            )
        self.record(self.Approved, meta, payload)

    def lapse_if_short(self, call: Call, as_of: datetime) -> bool:
        """The deadline check's command: lapses the application if it was short of the
        condition at the cutoff (dated cutoff + grace, the check's time); True if it lapsed."""
        missing = deadline.shortfalls(self.recommended_at, self.receipts, call.cutoff)
        if not missing:
            return False
        meta = Meta(call.check_due_at, SYSTEM_ACTOR.as_dict(), check_message_id(call))
        data = {
            "cutoff": call.cutoff.isoformat(),
            "grace_seconds": call.grace_seconds,
            "missing": missing,
            "checked_as_of": as_of.isoformat(),
        }
        self.record(self.Lapsed, meta, data)
        return True

    def _transition(
        self, call: Call, event_class: type[Aggregate.Event], meta: Meta, payload: dict
    ) -> None:
        self._check_transition(call, event_class, meta)
        was_lapsed = self.status == lc.LAPSED
        self.record(event_class, meta, payload)
        if was_lapsed:
            self._reinstate_if_met(call, event_class.EVENT_TYPE, meta)

    def _check_transition(self, call: Call, event_class: type[Aggregate.Event], meta: Meta) -> None:
        """The transition table: may this event, sent by this role, happen in this state? A
        lapsed application takes only timely evidence, into the state beneath the lapse."""
        event_type, role = event_class.EVENT_TYPE, meta.actor["role"]
        state = self.status
        if state == lc.LAPSED:
            if event_type not in lc.EVIDENCE_TYPES or meta.occurred_at > call.cutoff:
                raise InvalidTransition(
                    f"{self.application_ref} lapsed at the deadline; only {', '.join(sorted(lc.EVIDENCE_TYPES))} "
                    f"dated no later than the cutoff {call.cutoff.isoformat()} may still be recorded",
                    {"status": state, "event": event_type},
                )
            state = self.underlying_status
        if not lc.transition_for(event_type, role).allows(state):
            allowed = lc.allowed_states(event_type, role)
            raise InvalidTransition(
                f"{event_type} by a {role} is not allowed while {state}"
                f" (only while {', '.join(allowed)})",
                {"status": state, "event": event_type, "allowed_while": list(allowed)},
            )

    def _reinstate_if_met(self, call: Call, event_type: str, meta: Meta) -> None:
        """Timely evidence recorded after a lapse that brings the application to the condition
        reinstates it, in the state beneath the lapse."""
        if deadline.shortfalls(self.recommended_at, self.receipts, call.cutoff):
            return
        system = Meta(meta.occurred_at, SYSTEM_ACTOR.as_dict(), f"reinstate:{meta.message_id}")
        data = {
            "status": self.underlying_status,
            "cutoff": call.cutoff.isoformat(),
            "evidence": meta.message_id,
            "detail": f"timely {event_type} dated {meta.occurred_at.isoformat()} "
            "met the condition after the lapse",
        }
        self.record(self.Reinstated, system, data)


def check_message_id(call: Call) -> str:
    """The message id of the deadline check's lapses in ``call``."""
    return f"deadline-check:{call.id}:{call.cutoff.isoformat()}"
