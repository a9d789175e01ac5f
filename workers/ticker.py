"""The beat of ``towns worker``: every few seconds, the deadline scheduler's tick and a
catch-up nudge for the projections (so that a nudge lost after some commit costs at most one
beat). The first beat runs at once, which is how checks that came due while nothing ran catch
up at start.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import datetime, timezone

from workers.deadlines import DeadlineSchedule

log = logging.getLogger("towns.worker")


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


class Ticker:
    def __init__(self, schedule: DeadlineSchedule, nudge: Callable[[], object], every: float,
                 clock: Callable[[], datetime] = utcnow) -> None:
        self.schedule = schedule
        self.nudge = nudge
        self.every = every
        self.clock = clock

    def beat(self) -> None:
        """One tick of the scheduler and one catch-up nudge; failures are logged, and the
        next beat tries again."""
        try:
            sent = self.schedule.tick(self.clock())
            for call_id, cutoff in sent or ():
                log.info("deadline check sent: %s (cutoff %s)", call_id, cutoff)
        except Exception:  # noqa: BLE001 - a database hiccup must not stop the worker
            log.exception("deadline scheduler tick failed; the next beat tries again")
        try:
            self.nudge()
        except Exception:  # noqa: BLE001
            log.exception("projection catch-up nudge failed; the next beat tries again")

    def run(self, stop: threading.Event) -> None:
        """Beats until ``stop`` is set."""
        while True:
            self.beat()
            if stop.wait(self.every):
                return
