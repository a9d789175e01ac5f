"""``GET /``: the operators' and auditors' web page (CONTRACT.md §3), and its assets.

A plain Flask blueprint (not in the OpenAPI document): one template, ``templates/index.html``,
and plain CSS and JavaScript modules under ``static/``, served from ``/assets/``; no CDN, no build
step. The page needs no token: it asks for one (kept in the tab's ``sessionStorage``) before it
reads anything, then calls the JSON API with it, and every panel shows what the API allows the
token's role (a 403 or 404 becomes a note on that panel).

The template carries only what is not application data: the configured calls (their ids, titles
and cutoffs, as published in the notice), the life-cycle states, the jurisdictions and the tracks.
A Content-Security-Policy keeps the page to its own origin.
"""

from __future__ import annotations

from flask import Blueprint, Response, render_template

from adapters.http.context import current_config
from domain.indicators import TRACKS
from domain.jurisdictions import JURISDICTIONS
from domain.lifecycle import STATES

bp = Blueprint(
    "page", __name__,
    template_folder="templates",
    static_folder="static",
    static_url_path="/assets",
)

CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)


def page_settings() -> dict:
    """What the page needs to build its filters, before any token: no application data."""
    calls = sorted(current_config().calls.values(), key=lambda call: call.id)
    return {
        "calls": [{"id": c.id, "title": c.title, "notice": c.notice,
                   "cutoff": c.cutoff.isoformat()} for c in calls],
        "statuses": list(STATES),
        "jurisdictions": [{"code": j.code, "name": j.name, "chinese": j.chinese,
                           "region": j.region} for j in JURISDICTIONS.values()],
        "tracks": list(TRACKS),
        "default_offset": "+08:00",
    }


@bp.route("/")
def index() -> Response:
    response = Response(render_template("index.html", settings=page_settings()),
                        content_type="text/html; charset=utf-8")
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.after_request
def harden(response: Response) -> Response:
    """The page and its assets: own origin only, not framed, types as served."""
    response.headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("Referrer-Policy", "no-referrer")
    return response
