"""The operators' area's blueprint (``/api/v1/ops/*``, ``adapters.http.ops``), which its routes
(``ops_queues``, ``ops_dead_letters``, ``ops_set_aside``) join, and the read models' runner they
read the projections' figures from."""

from __future__ import annotations

from flask_smorest import Blueprint

from adapters.bootstrap import DatabaseUrlError
from adapters.http.context import current_runner
from projections.runner import ProjectionRunner

blp = Blueprint("ops", __name__,
                description="Operators: queues, projections' lag and set-aside events, dead letters")


def ops_runner() -> ProjectionRunner | None:
    """The app's read models' runner; None for a service whose store has no database URL (in
    memory), whose views then show no projections."""
    try:
        return current_runner()
    except DatabaseUrlError:
        return None
