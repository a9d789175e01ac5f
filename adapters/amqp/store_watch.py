"""Says in the log when the consumer waits for a store that does not answer.

While PostgreSQL is away, a batch's commit blocks its worker thread for as long as the library
retries its connection pool, or fails at once, and nothing else would say why the queue stands
still. The consumer (``Consumer._in_background``) asks the store whether it answers, through a
connection of its own rather than the pool's: while work has waited ``after`` seconds
(``waiting``, the probe in a thread of its own so that the AMQP connection is still served), and
after work failed (``check``, then again every ``check_every`` seconds until it answers, the
consumer running the work again then). The first answer that it does not is logged at once, then
again every ``every`` seconds while the consumer waits, and its return once (by a probe, or by
work that went through).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

log = logging.getLogger("towns.consume")

PROBE_TIMEOUT = 2  # seconds (libpq's least)


class StoreWatch:
    def __init__(self, probe: Callable[[], None] | None, after: float = 1.0, every: float = 5.0,
                 check_every: float = 1.0) -> None:
        self.probe = probe
        self.after, self.every, self.check_every = after, every, check_every
        self._lock = threading.Lock()
        self._down_since: float | None = None
        self._said_at = 0.0
        self._checked_at = 0.0
        self._checking: threading.Thread | None = None

    def waiting(self, since: float) -> None:
        """The consumer has waited for work on the store since ``since`` (monotonic)."""
        now = time.monotonic()
        if self.probe is None or now - since < self.after or now - self._checked_at < self.check_every:
            return
        if self._checking is not None and self._checking.is_alive():
            return
        self._checked_at = now
        self._checking = threading.Thread(target=self.check, name="towns-store-probe", daemon=True)
        self._checking.start()

    def over(self, succeeded: bool) -> None:
        """A wait ended; ``succeeded``: its work went through, so the store answers."""
        if succeeded:
            self._answered()

    def check(self) -> bool:
        """Whether the store answers now (True without a probe); logged as the class says."""
        if self.probe is None:
            return True
        try:
            self.probe()
        except Exception as error:  # noqa: BLE001 - any failure to answer is the news
            self._silent(error)
            return False
        self._answered()
        return True

    def _silent(self, error: BaseException) -> None:
        now = time.monotonic()
        with self._lock:
            if self._down_since is None:
                self._down_since = self._said_at = now
                log.warning("waiting for the store: it does not answer (%s); deliveries wait, "
                            "unacknowledged, until it does", _reason(error))
            elif now - self._said_at >= self.every:
                self._said_at = now
                log.warning("still waiting for the store after %.0fs: it does not answer (%s)",
                            now - self._down_since, _reason(error))

    def _answered(self) -> None:
        with self._lock:
            if self._down_since is not None:
                log.info("the store answers again after %.0fs of waiting; going on",
                            time.monotonic() - self._down_since)
                self._down_since = None


def _reason(error: BaseException) -> str:
    text = " ".join(str(error).split()) or type(error).__name__
    return text[:300]
