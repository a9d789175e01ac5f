"""Says in the log when ``towns worker`` waits for a store that does not answer, and when it
answers again.

While PostgreSQL is away, the worker neither exits nor retries in a loop: the beat
(``workers.ticker``) asks the store once per beat, through the deadline scheduler's
transaction, and sends no catch-up nudge while it does not answer; a projection message that
meets the store away is dropped (it is only a nudge) instead of being retried and, after its
retries, recorded as failed for good. Once the store answers, the beat's nudge has every
projection catch up from its tracked position, so nothing is missed. The first sign that the
store does not answer is logged at once, then again every ``every`` seconds while it lasts, and
its return once.
"""

from __future__ import annotations

import logging
import threading
import time

log = logging.getLogger("towns.worker")


class StoreWait:
    def __init__(self, every: float = 10.0) -> None:
        self.every = every
        self._lock = threading.Lock()
        self._down_since: float | None = None
        self._said_at = 0.0

    @property
    def waiting(self) -> bool:
        return self._down_since is not None

    def down(self, error: BaseException) -> None:
        """The store did not answer (``error``, a failure ``projections.store.unreachable``
        calls the store's)."""
        now = time.monotonic()
        with self._lock:
            if self._down_since is None:
                self._down_since = self._said_at = now
                log.warning("waiting for the store: it does not answer (%s); the projections "
                            "and the deadline scheduler wait until it does", _reason(error))
            elif now - self._said_at >= self.every:
                self._said_at = now
                log.warning("still waiting for the store after %.0fs: it does not answer (%s)",
                            now - self._down_since, _reason(error))

    def up(self) -> None:
        """The store answered."""
        with self._lock:
            if self._down_since is not None:
                log.info("the store answers again after %.0fs of waiting; the projections "
                         "catch up", time.monotonic() - self._down_since)
                self._down_since = None


def _reason(error: BaseException) -> str:
    text = " ".join(str(error).split()) or type(error).__name__
    return text[:300]
