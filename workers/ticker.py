"""The beat of ``towns worker``: every few seconds, the deadline scheduler's tick and a
catch-up nudge for the projections (so that a nudge lost after some commit costs at most one
beat). The first beat runs at once, which is how checks that came due while nothing ran catch
up at start. While the store does not answer, a beat says so (``workers.store_wait``) and sends
no nudge; the first beat it answers again nudges every projection to catch up.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import datetime, timezone

from projections.store import unreachable
from workers.catch_up import BacklogWait
from workers.deadlines import DeadlineSchedule
from workers.store_wait import StoreWait

log = logging.getLogger("towns.worker")


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


class Ticker:
    def __init__(self, schedule: DeadlineSchedule, nudge: Callable[[], object], every: float,
                 clock: Callable[[], datetime] = utcnow, store_wait: StoreWait | None = None,
                 catch_up: BacklogWait | None = None,
                 sample: Callable[[], object] | None = None) -> None:
        self.schedule = schedule
        self.sample = sample  # the read models' lag, kept for the operators' charts
        self.nudge = nudge
        self.every = every
        self.clock = clock
        self.store_wait = store_wait
        self.catch_up = catch_up

    def beat(self) -> None:
        """One tick of the scheduler and one catch-up nudge; failures are logged, and the
        next beat tries again. A store that does not answer (with ``store_wait``) is waited for:
        said once and now and then, and no nudge sent until it answers."""
        try:
            sent = self._tick(self.clock())
        except Exception as error:  # noqa: BLE001 - a database hiccup must not stop the worker
            if self.store_wait is not None and unreachable(error):
                self.store_wait.down(error)
                return
            log.exception("deadline scheduler tick failed; the next beat tries again")
        else:
            if self.store_wait is not None:
                self.store_wait.up()
            for call_id, cutoff in sent or ():
                log.info("deadline check sent: %s (cutoff %s)", call_id, cutoff)
        try:
            self.nudge()
        except Exception:  # noqa: BLE001
            log.exception("projection catch-up nudge failed; the next beat tries again")
        if self.sample is not None:
            try:
                self.sample()
            except Exception:  # noqa: BLE001 - a lost sample costs a point of a chart
                log.debug("lag sample not taken", exc_info=True)

    def _tick(self, now: datetime) -> list[tuple[str, str]] | None:
        """The scheduler's tick, unless the catch-up checks are held for the backlog."""
        wait = self.catch_up
        if wait is not None and not wait.done:
            due = self.schedule.due(now)
            if not due:
                wait.nothing_to_catch_up()
            elif not wait.clear(due):
                return []
        return self.schedule.tick(now)

    def run(self, stop: threading.Event) -> None:
        """Beats until ``stop`` is set."""
        while True:
            self.beat()
            if stop.wait(self.every):
                return
