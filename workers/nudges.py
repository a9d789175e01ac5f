"""Nudges: after a commit, the projections are told to catch up.

A commit only sets a flag; one thread of the process sends ``project_all`` whenever the flag is
up, so a burst of commits costs one message, a commit never waits on the broker, and the
broker's per-thread connection is opened by one long-lived thread (the consumer commits from a
fresh thread per batch, which would otherwise open a connection each). A nudge that cannot be
sent is only logged: ``towns worker`` catches up on a timer, so a lost nudge delays, never loses.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

log = logging.getLogger("towns.worker")


class Nudger:
    def __init__(self, send: Callable[[], object]) -> None:
        self._send = send
        self._wanted = threading.Event()
        self._closed = False
        self._lock = threading.Lock()  # one send at a time: flush and the thread
        self._thread = threading.Thread(target=self._run, name="towns-nudge", daemon=True)
        self._thread.start()

    def nudge(self) -> None:
        """Asks for one ``project_all`` soon; cheap, and safe from any thread."""
        self._wanted.set()

    def flush(self) -> None:
        """Sends now if a nudge is pending."""
        self._send_if_wanted()

    def close(self) -> None:
        """Sends a pending nudge, then stops the thread."""
        self._send_if_wanted()
        self._closed = True
        self._wanted.set()
        self._thread.join(timeout=10)

    def _run(self) -> None:
        while True:
            self._wanted.wait()
            if self._closed:
                return
            self._send_if_wanted()

    def _send_if_wanted(self) -> None:
        with self._lock:
            if not self._wanted.is_set() or self._closed:
                return
            self._wanted.clear()
            try:
                self._send()
            except Exception as error:  # noqa: BLE001 - the timer catches up instead
                log.warning("projection nudge not sent (%s: %s); the catch-up timer will do",
                            type(error).__name__, error)
