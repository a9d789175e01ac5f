"""The names of the workers' queues: the actors (``workers.actors``) are declared on them and
the broker (``workers.broker``) serves them. A module of its own, so that neither of those two
imports the other for them."""

from __future__ import annotations

PROJECTIONS_QUEUE = "towns.projections"
DEADLINES_QUEUE = "towns.deadlines"
QUEUES = (PROJECTIONS_QUEUE, DEADLINES_QUEUE)
