"""The actors: thin, each decodes its arguments and calls one thing.

Imported by ``workers.broker.setup_broker`` only, after it has set the broker (see there): the
decorators below bind each actor to dramatiq's global broker when this module loads.

- ``project(name)``: one projection catches up with the log (for a minute at most, then the
  rest in a message of its own).
- ``project_all()``: the nudge sent after each commit: every projection catches up in this
  message's thread, the summaries first, with no further message per view (a view a full batch
  behind goes on in a ``project`` message of its own).

  Both are only nudges, run by ``workers.projecting``: a projection reads from its tracked
  position and writes rows and position in one transaction, under a lock, so duplicates,
  crashes and two workers at once neither double nor skip events; a nudge for a view that
  another thread of the process is catching up asks that thread for one more pass. An event
  the view cannot take is set aside by the runner and costs no retry; only the store being
  unreachable fails the message (and dramatiq tries it again later), or, in ``towns worker``,
  ends it, said in the log (``workers.store_wait``): the worker's beat nudges again once the
  store answers.
- ``check_deadline(call_id, cutoff)``: the call's deadline check, as of now (never earlier than
  the check is due); idempotent, so a repeat changes nothing.

Every actor sets its retries, back-off and time limit explicitly, and ``throws`` the errors no
retry can fix; a message that fails for good is recorded by ``workers.failures``.
"""

from __future__ import annotations

import logging
from datetime import datetime, timezone
from uuid import UUID

import dramatiq
import dramatiq.broker

from domain.errors import UnknownCall
from projections.applications import TYPES as APPLICATION_TOPICS
from projections.applications import DeadlineReport, deadline_candidates
from projections.audit import AuditTrail
from projections.store import unreachable
from workers import context, projecting
from workers.projecting import sign_head
from workers.queues import DEADLINES_QUEUE, PROJECTIONS_QUEUE

if dramatiq.broker.global_broker is None:  # dramatiq would build a RabbitMQ broker of its own
    raise ImportError("workers.actors is imported by workers.broker.setup_broker, after the broker is set")

log = logging.getLogger("towns.worker")

SECOND = 1000  # dramatiq counts milliseconds
MINUTE = 60 * SECOND
# Time limits stay well under RabbitMQ's consumer timeout (30 minutes): a message unacknowledged
# for longer closes the worker's channel and is delivered again.


class UnknownProjection(KeyError):
    """No projection of that name in this process."""


@dramatiq.actor(queue_name=PROJECTIONS_QUEUE, max_retries=5, min_backoff=SECOND,
                max_backoff=MINUTE, time_limit=10 * MINUTE, throws=(UnknownProjection,))
def project(name: str) -> None:
    runtime = context.current()
    if name not in runtime.runner.projections:
        raise UnknownProjection(f"no projection {name!r}")
    projecting.project(runtime, name, project.send)


@dramatiq.actor(queue_name=PROJECTIONS_QUEUE, max_retries=5, min_backoff=SECOND,
                max_backoff=MINUTE, time_limit=10 * MINUTE)
def project_all() -> None:
    projecting.project_all(context.current(), project.send)


@dramatiq.actor(queue_name=DEADLINES_QUEUE, max_retries=10, min_backoff=5 * SECOND,
                max_backoff=10 * MINUTE, time_limit=20 * MINUTE, throws=(UnknownCall,))
def check_deadline(call_id: str, cutoff: str) -> None:
    runtime = context.current()
    call = runtime.towns.call(call_id)
    if call.cutoff.isoformat() != cutoff:
        log.warning("deadline check of %s for cutoff %s skipped: the call's cutoff is now %s",
                    call_id, cutoff, call.cutoff.isoformat())
        return
    now = datetime.now(timezone.utc)
    candidates, since = _candidates(runtime, call)
    run = runtime.towns.check_deadline(call_id, max(now, call.check_due_at), candidates, since)
    runtime.on_deadline_checked(call_id, run.due)
    if run.due:
        runtime.runner.catch_up(AuditTrail.name)  # the check's events under a head of its own
        sign_head(runtime, force=True)
        runtime.schedule.done(call_id, cutoff, now)
        log.info("deadline check %s: %d checked, %d lapsed", call_id, run.checked, len(run.lapsed))


def _candidates(runtime, call) -> tuple[list, int]:
    """Those the deadline report shows short of the condition, every application first
    recorded after the report's position (which the report cannot know yet), and those with
    an event the report set aside (whose row it cannot vouch for); and the log position they
    are chosen at: one recorded after it is checked after the check."""
    since = runtime.towns.recorder.max_notification_id() or 0
    runtime.runner.catch_up(DeadlineReport.name)
    with runtime.store.transaction() as tx:
        position = runtime.store.position(tx, DeadlineReport.name)
        short = deadline_candidates(tx, call.id, call.cutoff)
    late = list(runtime.towns.application_ids(call.id, after=position))
    chosen = set(short) | set(late)
    return short + late + [i for i in _set_aside(runtime, call) if i not in chosen], since


def _set_aside(runtime, call) -> list[UUID]:
    """The applications of ``call`` with an event the deadline report set aside."""
    ids = sorted({r.originator_id for r in runtime.runner.set_aside([DeadlineReport.name])
                  if r.topic in APPLICATION_TOPICS and r.originator_id})
    found = []
    for text in ids:
        try:
            app = runtime.towns.application_by_id(UUID(text))
        except Exception as error:  # noqa: BLE001 - one unreadable application stops no check
            if unreachable(error):
                raise
            log.warning("deadline check of %s: application %s cannot be read to check it: %s",
                        call.id, text, error)
            continue
        if app is not None and app.call_id == call.id:
            found.append(app.id)
    return found


ACTORS = (project, project_all, check_deadline)


def bind(broker: dramatiq.Broker) -> None:
    """Moves the actors to ``broker`` (a later ``setup_broker`` in the same process)."""
    for actor in ACTORS:
        if actor.broker is not broker:
            actor.broker = broker
            broker.declare_actor(actor)
