"""Nudges: after a commit, the projections are told to catch up.

A commit only sets a flag; the process's nudge threads send ``project_all`` whenever the flag
is up, so a burst of commits costs one message, a commit never waits on the broker, and the
broker's per-thread connections are opened by long-lived threads (the consumer commits from a
fresh thread per batch, which would otherwise open a connection each). There are two of them:
a send waits for the broker's confirm, and while one waits the other sends the next commit's
nudge at once instead of after that confirm. A nudge that cannot be sent is only logged:
``towns worker`` catches up on a timer, so a lost nudge delays, never loses.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

log = logging.getLogger("towns.worker")

SENDERS = 2
"""Nudge threads: while one waits for its confirm, the other sends."""


class Nudger:
    def __init__(self, send: Callable[[], object], senders: int = SENDERS) -> None:
        self._send = send
        self._wanted = threading.Event()
        self._closed = False
        self._state = threading.Condition()  # the flag's hand-over, and the sends in flight
        self._sending = 0
        self._threads = [threading.Thread(target=self._run, name=f"towns-nudge-{i}", daemon=True)
                         for i in range(max(1, senders))]
        for thread in self._threads:
            thread.start()

    def nudge(self) -> None:
        """Asks for one ``project_all`` soon; cheap, and safe from any thread."""
        self._wanted.set()

    def flush(self, timeout: float = 30.0) -> None:
        """Sends now if a nudge is pending, and waits until the nudges being sent are sent."""
        self._send_if_wanted()
        with self._state:
            self._state.wait_for(lambda: self._sending == 0, timeout)

    def close(self) -> None:
        """Sends a pending nudge, then stops the threads."""
        self.flush()
        self._closed = True
        self._wanted.set()
        for thread in self._threads:
            thread.join(timeout=10)

    def _run(self) -> None:
        while True:
            self._wanted.wait()
            if self._closed:
                return
            self._send_if_wanted()

    def _send_if_wanted(self) -> None:
        with self._state:
            if not self._wanted.is_set() or self._closed:
                return
            self._wanted.clear()
            self._sending += 1
        try:
            self._send()
        except Exception as error:  # noqa: BLE001 - the timer catches up instead
            log.warning("projection nudge not sent (%s: %s); the catch-up timer will do",
                        type(error).__name__, error)
        finally:
            with self._state:
                self._sending -= 1
                self._state.notify_all()
