"""``/api/v1/ops/*``: the operators' area (CONTRACT.md §3). Only operators use it; they read no
application data here, only queues, projections' lag, parked messages and dead letters.

- ``GET /api/v1/ops/queues``: the queue view (``adapters.ops.queues``);
- ``GET /api/v1/ops/dead-letters?queue=&limit=&cursor=&all=`` and the filter
  (``code``, ``type``, ``ref``, ``call``, ``user``, ``since``, ``until``;
  ``adapters.store.dead_letter_filter``): dead letters a page at a time, open ones unless
  ``all=true``;
- ``GET /api/v1/ops/dead-letters/count`` with the same filter: how many open letters match;
- ``POST /api/v1/ops/dead-letters/requeue`` with ``{"ids": [...]}`` or ``{"all": true}`` and
  the filter: re-drives them (``adapters.amqp.redrive.requeue``) as the calling operator;
  ``{"requeued"}``;
- ``GET /api/v1/ops/set-aside?projection=&limit=&cursor=&all=``: the events the read models
  set aside, a page at a time, open ones unless ``all=true`` (where and why, not their data);
- ``GET /api/v1/ops/incidents``, ``/api/v1/ops/charts``, ``/api/v1/ops/dead-letters/codes``,
  ``/api/v1/ops/redrives`` and ``/api/v1/ops/redrives/{id}`` (``ops_incidents``).

Where the figures come from is read per request: ``TOWNS_AMQP_URL``, ``TOWNS_RABBITMQ_API``, and
the app's read models (``context.current_runner``) for the projections' lag.

The routes are beside this module, by area, on its blueprint (``ops_blueprint``): the queue view
(``ops_queues``), dead letters (``ops_dead_letters``) and set-aside events (``ops_set_aside``).
Importing this module registers them, in that order: the order of the OpenAPI document.
"""

from __future__ import annotations

# The routes register as they are imported, in this order: the OpenAPI document's.
# isort: off
from adapters.http.ops_blueprint import blp, ops_runner  # noqa: F401 - the app registers blp
from adapters.http.ops_queues import (  # noqa: F401 - re-exported: their old home
    ProjectionLagSchema,
    QueueSchema,
    QueueViewSchema,
    get_queues,
)
from adapters.http.ops_dead_letters import (  # noqa: F401 - re-exported: their old home
    DeadLetterQuerySchema,
    DeadLetterSchema,
    DeadLettersPageSchema,
    RequeuedSchema,
    RequeueRecordSchema,
    RequeueSchema,
    list_dead_letters,
    requeue_dead_letters,
)
from adapters.http.ops_set_aside import (  # noqa: F401 - re-exported: their old home
    SetAsidePageSchema,
    SetAsideQuerySchema,
    SetAsideSchema,
    list_set_aside,
)
from adapters.http.ops_incidents import (  # noqa: F401 - incidents, charts, re-drive history
    get_charts,
    get_dead_letter_codes,
    get_incidents,
    get_redrive,
    list_redrives,
)
# isort: on
