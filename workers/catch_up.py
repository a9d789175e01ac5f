"""The catch-up deadline check waits for the inbound backlog (``towns worker``).

A worker started after a call's cutoff + grace sends that call's check at its first beat (the
catch-up, ``workers.deadlines``). If the messages sent before the cutoff are still waiting in
the inbound queue then, the check would run on a store that does not hold them yet: every
timely application would lapse on arrival and be reinstated later. So the checks already due
at the worker's first beat are held until the inbound backlog is applied, or until ``wait``
seconds (``TOWNS_CATCH_UP_WAIT``, 300) have passed, whichever comes first; what it waits for
is said in the log. Checks that come due later, while the worker runs, are not held, and a
check run by hand (``towns deadlines check``) never is.

Whether the backlog is applied is the composition root's to say (``probe``): None when it is,
else a short text naming what is still waiting (the queue's messages, the parked ones). The
backlog counts as applied only after ``confirmations`` probes in a row said so, a beat apart:
a queue's ready count leaves out the messages its consumer holds but has not yet applied.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable

log = logging.getLogger("towns.worker")

DEFAULT_WAIT = 300.0
SAY_EVERY = 30.0
CONFIRMATIONS = 2


def wait_from_env() -> float:
    """``TOWNS_CATCH_UP_WAIT`` in seconds (≥ 0), default 300."""
    text = (os.environ.get("TOWNS_CATCH_UP_WAIT") or "").strip()
    if not text:
        return DEFAULT_WAIT
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"TOWNS_CATCH_UP_WAIT must be a number of seconds, not {text!r}") from None
    if not value >= 0:
        raise ValueError(f"TOWNS_CATCH_UP_WAIT must be 0 or more seconds, not {text!r}")
    return value


class BacklogWait:
    """Holds the catch-up checks; ``clear()`` once per beat says whether they may go now."""

    def __init__(self, probe: Callable[[], str | None], wait: float = DEFAULT_WAIT,
                 clock: Callable[[], float] = time.monotonic,
                 confirmations: int = CONFIRMATIONS, say_every: float = SAY_EVERY) -> None:
        self.probe = probe
        self.wait = wait
        self.clock = clock
        self.confirmations = max(1, confirmations)
        self.say_every = say_every
        self.done = False
        """True once the catch-up may go: it then stays so for the life of the process."""
        self._since: float | None = None
        self._said_at: float | None = None
        self._clear_in_row = 0

    def nothing_to_catch_up(self) -> None:
        """No check was due at the first beat: later ones are never held."""
        self.done = True

    def clear(self, checks: list[tuple[str, str]]) -> bool:
        """True when the catch-up ``checks`` (call, cutoff) may be sent now."""
        if self.done:
            return True
        now = self.clock()
        if self._since is None:
            self._since = now
        try:
            pending = self.probe()
        except Exception as error:  # noqa: BLE001 - a probe that fails is a backlog unknown
            pending = f"the backlog cannot be read ({_reason(error)})"
        waited = now - self._since
        names = ", ".join(call_id for call_id, _ in checks)
        if pending is None:
            self._clear_in_row += 1
            if self._clear_in_row >= self.confirmations:
                self.done = True
                log.info("inbound backlog applied: the catch-up deadline check goes ahead (%s)",
                         names)
                return True
            return False
        self._clear_in_row = 0
        if waited >= self.wait:
            self.done = True
            log.warning("catch-up deadline check (%s) sent after waiting %.0fs for the inbound "
                        "backlog, which is not applied yet: %s", names, waited, pending)
            return True
        if self._said_at is None or now - self._said_at >= self.say_every:
            self._said_at = now
            log.info("catch-up deadline check (%s) held until the inbound backlog is applied "
                     "(%s); at most %.0fs more", names, pending, self.wait - waited)
        return False


def _reason(error: BaseException) -> str:
    return (" ".join(str(error).split()) or type(error).__name__)[:300]
