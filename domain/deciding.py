"""Deciding one command, the application service's part of it (``Decider``, a collaborator of
``domain.service.Towns``): the checks in the service's order of refusals (``domain.service``), a repeat
answered from its inbox marker, the submission path, and the aggregate's command for each type
of message to an existing application, which checks the rest. Nothing is saved here.
"""

from __future__ import annotations

from typing import Callable
from uuid import UUID

from domain import lifecycle as lc
from domain.applications import Application, Meta, application_id
from domain.authorisation import authorise_actor, authorise_reach, authorise_submitter
from domain.calls import Call
from domain.check_log import CheckLog
from domain.commands import Command, Outcome
from domain.errors import IdempotencyConflict, UnknownApplication, UnknownCall
from domain.inbox import InboxMessage, inbox_id
from domain.principals import Principal
from domain.work import Work

COMMANDS: dict[str, Callable[[Application, Call, Meta, dict], None]] = {
    lc.RESUBMIT: Application.resubmit,
    lc.WITHDRAW: Application.withdraw,
    lc.RETURN: Application.return_for_correction,
    lc.VERIFY: Application.verify,
    lc.RECOMMEND: Application.recommend,
    lc.REJECT: Application.reject,
    lc.RECEIVE_MATERIALS: Application.receive_materials,
    lc.EVALUATE: Application.evaluate,
    lc.APPROVE: Application.approve,
}
"""The aggregate's command for each type of message to an existing application."""


class Decider:
    """Decides the commands of the service's ``calls``; ``check_log`` says when a call's
    deadline check ran (a submission after it is checked at once)."""

    def __init__(self, calls: dict[str, Call], check_log: CheckLog) -> None:
        self.calls = calls
        self.check_log = check_log

    # -- deciding ----------------------------------------------------------------------------

    def decide(
        self, work: Work, command: Command, principal: Principal, check_repeat: bool = True
    ) -> Outcome:
        """Checks and applies one command within ``work``; nothing is saved here.

        Without ``check_repeat`` a repeat is left to the inbox marker's unique key at the save.
        Rules are checked before any event is triggered, so a refusal records nothing.
        """
        call = self.call(command.call_id)
        authorise_actor(command, principal)
        marker_id = inbox_id(command.message_id)
        marker = work.get(marker_id) if check_repeat else work.held(marker_id)
        if marker is not None:
            return self._repeat(work, marker, command, principal)
        if command.type == lc.SUBMIT:
            app = self._submit(work, call, command, principal, check_repeat)
        else:
            app = self._existing(work, call, command)
            authorise_reach(app, principal)
            COMMANDS[command.type](app, call, _meta(command), command.payload)
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

    def _repeat(
        self, work: Work, marker: InboxMessage, command: Command, principal: Principal
    ) -> Outcome:
        # A repeat answers only someone who could have sent the original: another city or
        # another applicant learns nothing about an application that is not theirs.
        authorise_reach(work.get(UUID(marker.application_id)), principal)
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

    def _submit(
        self, work: Work, call: Call, command: Command, principal: Principal, check_repeat: bool
    ) -> Application:
        """Without ``check_repeat``, an existing application is left to the unique key of its
        first event at the save (which then fails, and the service decides again on fresh reads).
        A submission made once the call's check has run is checked at once (it may lapse)."""
        authorise_submitter(command, principal)
        existing = (work.get if check_repeat else work.held)(
            application_id(call.id, command.application_ref)
        )
        if existing is not None:
            # Someone else's application is forbidden before anything else is said of it.
            authorise_reach(existing, principal)
        payload = command.payload
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
        app = Application.submit_to(call, _meta(command), data, exists=existing is not None)
        work.add(app)
        checked_at = self.check_log.checked_at(call, work, on_condition=not check_repeat)
        if checked_at is not None:
            app.lapse_if_short(call, checked_at)
        return app


def _meta(command: Command) -> Meta:
    return Meta(command.occurred_at, command.actor.as_dict(), command.message_id)
