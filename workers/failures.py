"""Actor messages that failed for good, recorded where operators look: the ``worker_failures``
table beside the views.

dramatiq rejects a message that failed for good into its queue's ``.XQ`` queue, where it
expires after seven days (``dramatiq_dead_message_ttl``): nothing an operator must see may live
only there. A message fails for good when Retries gives up on it (retries exhausted, or an
exception the actor ``throws``) or when AgeLimit drops it; either way dramatiq has called
``message.fail()`` by the time ``after_process_message`` / ``after_skip_message`` reach this
middleware, provided it comes just *before* Retries in the broker's list (dramatiq runs the
``after_*`` hooks in reverse order).
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import datetime, timezone

from dramatiq.middleware import Middleware

from projections.store import ViewStore
from workers import context

log = logging.getLogger("towns.worker")

TABLE = """
CREATE TABLE IF NOT EXISTS worker_failures (
    message_id TEXT PRIMARY KEY,
    actor TEXT NOT NULL,
    queue TEXT NOT NULL,
    args TEXT NOT NULL,
    retries INTEGER NOT NULL,
    error TEXT NOT NULL,
    failed_at TEXT NOT NULL
)
"""


@dataclass(frozen=True)
class WorkerFailure:
    message_id: str
    actor: str
    queue: str
    args: list
    retries: int
    error: str
    failed_at: str


def setup(store: ViewStore) -> None:
    with store.transaction() as tx:
        tx.execute(TABLE)


def record(store: ViewStore, failure: WorkerFailure) -> None:
    """Keeps the failure; a message that fails again (a redelivery) replaces its record."""
    with store.transaction() as tx:
        tx.execute(
            "INSERT INTO worker_failures (message_id, actor, queue, args, retries, error, "
            "failed_at) VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (message_id) DO UPDATE SET "
            "retries = excluded.retries, error = excluded.error, failed_at = excluded.failed_at",
            (failure.message_id, failure.actor, failure.queue, json.dumps(failure.args),
             failure.retries, failure.error, failure.failed_at),
        )


def failures(store: ViewStore) -> list[WorkerFailure]:
    with store.transaction() as tx:
        rows = tx.all("SELECT message_id, actor, queue, args, retries, error, failed_at "
                      "FROM worker_failures ORDER BY failed_at, message_id")
    return [WorkerFailure(m, a, q, json.loads(args), r, e, at) for m, a, q, args, r, e, at in rows]


class RecordFailures(Middleware):
    """Records every message that failed for good in ``worker_failures``."""

    def after_process_message(self, broker, message, *, result=None, exception=None):
        if exception is None or not message.failed:
            return
        # Retries counts this failure in ``retries`` unless the actor throws the exception.
        throws = message.options.get("throws") or broker.get_actor(message.actor_name).options.get("throws")
        retried = message.options.get("retries", 0)
        if not (throws and isinstance(exception, throws)):
            retried -= 1
        self._record(message, f"{type(exception).__name__}: {exception}", max(0, retried))

    def after_skip_message(self, broker, message):
        if message.failed:
            self._record(message, "skipped: the message exceeded its age limit",
                         message.options.get("retries", 0))

    def _record(self, message, error: str, retries: int) -> None:
        failure = WorkerFailure(
            message_id=message.message_id,
            actor=message.actor_name,
            queue=message.queue_name,
            args=[*message.args, *(f"{k}={v!r}" for k, v in message.kwargs.items())],
            retries=retries,
            error=error[:2000],
            failed_at=datetime.now(timezone.utc).isoformat(),
        )
        installed = context.installed()  # the views of this process's runtime
        try:
            if installed is None:
                raise context.NotInstalled("no runtime to record it in")
            record(installed.store, failure)
        except Exception:  # noqa: BLE001 - the log is all that is left
            log.exception("could not record the failure of %s %s %s: %s", failure.actor,
                          failure.message_id, failure.args, failure.error)
            return
        log.error("%s %s failed for good after %d retries: %s", failure.actor,
                  failure.message_id, failure.retries, failure.error)
