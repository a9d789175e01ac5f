"""Events the read models set aside, a page at a time (``GET /api/v1/ops/set-aside``): where
each is (projection, log position, topic, application id and version), why, how many tries,
and whether a retry took it since. Never the event's data: operators read no application data.

The cursor is the (projection, position) of the last record of a page; the next page starts
after it in (projection, position) order, whatever was set aside or taken in between.
"""

from __future__ import annotations

from typing import Any

from projections.runner import ProjectionRunner

DEFAULT_LIMIT = 50
MAX_LIMIT = 500


def page(runner: ProjectionRunner | None, projection: str | None, open_only: bool = True,
         limit: int = DEFAULT_LIMIT, after: tuple[str, int] | None = None) -> dict[str, Any]:
    """``{"items", "next"}``: up to ``limit`` records of ``projection`` (all when None), open
    ones only unless ``open_only`` is false, after the key ``after``; ``next`` is the key to go
    on after, None on the last page. No runner (a store without views): nothing."""
    if runner is None:
        return {"items": [], "next": None}
    found = runner.set_aside([projection] if projection else [], open_only, after, limit + 1)
    shown = found[:limit]
    more = len(found) > limit
    return {"items": [record.as_dict() for record in shown],
            "next": (shown[-1].name, shown[-1].position) if more else None}
