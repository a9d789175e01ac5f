"""Reading applications (CONTRACT.md §3): the list, from the summaries read model, paged by
keyset; one application at a point of its history and its events, by replaying the event store.

Every view answers 401 without a valid token and 403 to operators before it reads its
arguments; a city reads its jurisdiction, an applicant its own applications (``reach``): another
one is answered as one that does not exist (404 ``unknown_application``).
"""

from __future__ import annotations

from datetime import datetime

from flask_smorest import Blueprint
from werkzeug.routing import PathConverter

from projections import queries
from adapters.http.auth import current_principal, require_roles
from adapters.http.context import current_runner, current_towns
from adapters.http.cursor import encode_cursor
from adapters.http.errors import ErrorSchema
from adapters.http.reach import READERS, Reach, submission
from adapters.http.read_schemas import (
    ApplicationSchema,
    HistorySchema,
    ListArgs,
    PointArgs,
    SummaryPageSchema,
)
from adapters.views import application_view, event_view
from domain.errors import UnknownApplication
from domain.reading import Replay, never_submitted

blp = Blueprint("applications", __name__, description="Reading applications")

_APPLICATION = "/api/v1/applications/<call_id>/<ref:ref>"


class RefConverter(PathConverter):
    """An application ref as the applicant side chose it, slashes included (``%2F`` is decoded
    before routing): the rest of the path, but a last ``/history``, which names the history.
    The schemas refuse refs that end so (``adapters.inbound.schemas``)."""

    regex = ".+?"
    part_isolating = False  # matches across slashes (werkzeug would infer True from the regex)


def _reach() -> Reach:
    return Reach(current_principal())


@blp.route("/api/v1/applications")
@blp.response(200, SummaryPageSchema, description="one page of summaries, in (call_id, ref) order")
@blp.alt_response(422, schema=ErrorSchema,
                  description="schema_invalid (a filter, the limit or the cursor) or unknown_call")
@require_roles(*READERS)
@blp.arguments(ListArgs, location="query")
def list_applications(args: dict):
    """List applications

    From the summaries read model as it stands. A city sees its jurisdiction and an applicant
    its own applications whatever ``city`` asks for (another city: an empty list).
    ``ref_prefix`` keeps the applications whose reference starts with it (a search by
    reference: at most ``limit`` of them a page, in reference order).
    """
    if args.get("call_id") is not None:
        current_towns().call(args["call_id"])
    reach = _reach()
    possible, city = reach.city_filter(args.get("city"))
    if not possible:
        return {"items": [], "next_cursor": None}
    filters = {**{k: args.get(k) for k in ("call_id", "status", "track", "ref_prefix")},
               "city": city}
    keep = (lambda ids: reach.keep(current_towns(), ids)) if reach.owner else None
    page = queries.summaries(current_runner().store, filters, args.get("cursor"),
                                 args["limit"], keep)
    return {"items": page.items, "next_cursor": encode_cursor(page.last) if page.last else None}


@blp.route(_APPLICATION, merge_slashes=False)
@blp.response(200, ApplicationSchema, description="the application at that point")
@blp.alt_response(404, schema=ErrorSchema,
                  description="unknown_application: never submitted, outside the caller's reach,"
                              " or not yet at that point")
@blp.alt_response(422, schema=ErrorSchema,
                  description="schema_invalid (as_of, known_at, version) or unknown_call")
@require_roles(*READERS)
@blp.arguments(PointArgs, location="query")
def get_application(args: dict, call_id: str, ref: str):
    """Read an application

    Its current state, or with ``as_of`` its state at that business time, with ``known_at`` as
    the service knew it then, with ``version`` after that many events: all by replaying its
    events, whose hash chain is checked on the way (``chain_intact``).
    """
    as_of, known_at, version = args.get("as_of"), args.get("known_at"), args.get("version")
    replay = _replay(call_id, ref, as_of, known_at, version)
    if replay.state is None:
        raise UnknownApplication(
            f"application {ref!r} did not exist yet{_point(as_of, known_at)}",
            {"application_ref": ref, "call_id": call_id, **_echo(as_of, known_at, version)},
        )
    return {
        **application_view(replay.state, replay.deadline),
        **_echo(as_of, known_at, version),
        "counted_versions": [e.originator_version for e in replay.applied],
        "chain_intact": replay.chain_break is None,
        "chain_break": replay.chain_break.as_dict() if replay.chain_break else None,
    }


@blp.route(f"{_APPLICATION}/history", merge_slashes=False)
@blp.response(200, HistorySchema, description="every event, in version order")
@blp.alt_response(404, schema=ErrorSchema,
                  description="unknown_application: never submitted, or outside the caller's reach")
@blp.alt_response(422, schema=ErrorSchema, description="unknown_call")
@require_roles(*READERS)
def get_history(call_id: str, ref: str):
    """An application's history

    Every stored event with both its times, its actor, message id, data and hash chain link;
    ``first_break`` is where the chain stops holding, if it does.
    """
    replay = _replay(call_id, ref)
    return {
        "items": [event_view(e) for e in replay.events],
        "chain_intact": replay.chain_break is None,
        "first_break": replay.chain_break.as_dict() if replay.chain_break else None,
    }


def _replay(call_id: str, ref: str, as_of: datetime | None = None,
            known_at: datetime | None = None, version: int | None = None) -> Replay:
    """The replay, once the caller's reach covers the application (on its whole history); one
    outside it is answered exactly as one never submitted, whatever the point asked."""
    replay = current_towns().replay(call_id, ref, as_of, known_at, version)
    if not _reach().covers(submission(replay.events)):
        raise never_submitted(call_id, ref)
    return replay


def _echo(as_of: datetime | None, known_at: datetime | None, version: int | None) -> dict:
    return {"as_of": as_of.isoformat() if as_of else None,
            "known_at": known_at.isoformat() if known_at else None,
            "version_asked": version}


def _point(as_of: datetime | None, known_at: datetime | None) -> str:
    parts = [f"as of {as_of.isoformat()}" if as_of else "",
             f"as known at {known_at.isoformat()}" if known_at else ""]
    return "".join(f" {p}" for p in parts if p)
