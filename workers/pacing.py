"""Pacing the views that need not follow every commit at once, in ``towns worker``.

Under a steady stream the consumer commits every few tens of milliseconds, and each commit
nudges every view: a pass over a few events costs a view about as much as a pass over many (a
transaction, its lock, its position, a page, a few writes). The summaries follow every nudge:
the read API lists from them, and what a user waits for is there. The deadline report, the audit
trail and the pipeline counts (``PACE``) are read by operators and auditors, for whom a quarter
of a second is nothing: a nudge that comes sooner than that after such a view's last step began
does not catch it up then; one ``project`` message for it is owed, sent by the pacer's thread
once the pace allows (a view is owed one at a time), and that message catches it up with
everything committed meanwhile. A view that was idle catches up at once.

The position, the lock and the exactly-once step are the runner's, as ever; a message the pacer
has not sent when the worker stops is not lost work: the next beat of a worker (another one,
or this one's first after a start) nudges every view.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from projections.applications import DeadlineReport
from projections.audit import AuditTrail
from projections.pipeline import PipelineCounts

log = logging.getLogger("towns.worker")

PACE = {DeadlineReport.name: 0.25, AuditTrail.name: 0.25, PipelineCounts.name: 0.25}
"""Seconds a paced view's steps begin apart at least, when nudged; the views not named follow
every nudge."""


class Pacer:
    def __init__(self, send: Callable[[str], object], paces: dict[str, float] | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.paces = PACE if paces is None else paces
        self._send = send
        self._clock = clock
        self._state = threading.Condition()
        self._began: dict[str, float] = {}  # per view, when its last step began
        self._due: dict[str, float] = {}  # views owed a message, and when it may be sent
        self._closed = False
        self._thread: threading.Thread | None = None

    def began(self, name: str) -> None:
        """A step of ``name`` begins now."""
        if name in self.paces:
            with self._state:
                self._began[name] = self._clock()

    def defer(self, name: str) -> bool:
        """True when ``name`` must not catch up now (its pace since its last step began has
        not passed): one message for it is then owed, sent when the pace allows. False: it
        catches up now."""
        pace = self.paces.get(name, 0.0)
        if pace <= 0:
            return False
        with self._state:
            began = self._began.get(name)
            if self._closed or began is None or self._clock() >= began + pace:
                return False
            if name not in self._due:
                self._due[name] = began + pace
                if self._thread is None:
                    self._thread = threading.Thread(target=self._run, name="towns-pacer",
                                                    daemon=True)
                    self._thread.start()
                self._state.notify()
            return True

    def owed(self) -> dict[str, float]:
        """The views owed a message, and when it is due (the pacer's clock)."""
        with self._state:
            return dict(self._due)

    def close(self) -> None:
        """Stops the thread; messages owed are not sent (the next beat of a worker nudges every
        view)."""
        with self._state:
            self._closed = True
            self._state.notify()
        if self._thread is not None:
            self._thread.join(timeout=10)

    def _run(self) -> None:
        while True:
            with self._state:
                while not self._closed:
                    now = self._clock()
                    soonest = min(self._due.values(), default=None)
                    if soonest is not None and soonest <= now:
                        break
                    self._state.wait(None if soonest is None else soonest - now)
                if self._closed:
                    return
                name = min(self._due, key=self._due.__getitem__)
                del self._due[name]
            try:
                self._send(name)
            except Exception as error:  # noqa: BLE001 - the next nudge or beat catches it up
                log.warning("the paced catch-up of %s was not sent (%s: %s); the next nudge "
                            "catches it up", name, type(error).__name__, error)
