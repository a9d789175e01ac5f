"""Who may do what to which application (DOMAIN.md, "Who is who"): the service's checks against
the authenticated principal, which the aggregate cannot make (it does not know the caller)."""

from __future__ import annotations

from domain import lifecycle as lc
from domain.applications import Application
from domain.commands import Command
from domain.errors import Forbidden
from domain.principals import APPLICANT, CITY, Principal


def authorise_actor(command: Command, principal: Principal) -> None:
    """The principal may act as the actor the envelope names, and that role sends this type."""
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


def authorise_submitter(command: Command, principal: Principal) -> None:
    """An applicant submits only for its own city."""
    city = command.payload["city"]
    if city != principal.city:
        raise Forbidden(
            f"an applicant of {principal.city} may not submit for {city}",
            {"payload.city": city, "principal_city": principal.city},
        )


def authorise_reach(app: Application, principal: Principal) -> None:
    """A city acts only on its own applications, an applicant only on those it submitted."""
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
