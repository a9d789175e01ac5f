"""Catching the views up in a worker: what the ``project`` and ``project_all`` actors run.

``project_all`` (the nudge sent after each commit) catches every view up in its own thread, one
after the other, the summaries first (the read model the read API lists from; the order of
``projections.registry``), instead of sending a message per view: a commit reaches the views
after one trip through the broker, not two. ``project(name)`` catches one view up.

- Exactly once: each step is the runner's (``ProjectionRunner.run_once``): rows and position in
  one transaction, under the view's lock, so duplicate nudges, crashes and several workers
  neither double nor skip an event.
- One thread per view in a process (``Turns``): a nudge for a view that another thread of the
  process is catching up does not wait or queue; it asks that thread for one more pass, which
  it makes before it lets go, so an event committed just after that thread's last look is
  still projected now. A view held by another process's runner (None from ``run_once``) is
  left to it, as that runner catches up.
- Long catch-ups split: a view a full batch behind goes on in a ``project`` message of its own
  (views far behind catch up side by side on the worker's threads), and no message catches up
  for more than ``CATCH_UP_SECONDS``: the rest goes on in further ``project`` messages.
- The audit view, once at the head, has its tree head signed when one is due (``sign_head``).
- Paced views (``workers.pacing``, in ``towns worker``): a nudge that comes too soon after such
  a view's last step leaves it to one ``project`` message, sent when the pace allows.
- The store unreachable: in ``towns worker`` (``runtime.store_wait`` set) the message ends, said
  in the log, and the beat nudges again once the store answers; elsewhere the error fails the
  message for dramatiq to retry. Any other error of a view in ``project_all`` sends that view
  its own ``project`` message, whose retries and failure record are the view's.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from projections.audit import AuditTrail
from projections.runner import BATCH
from projections.store import unreachable

log = logging.getLogger("towns.worker")

CATCH_UP_SECONDS = 60.0
"""Of catching up per message, so that no message runs for long."""


class Turns:
    """Per view, whether a thread of this process is catching it up, and whether it was asked
    for one more pass meanwhile."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._busy: set[str] = set()
        self._again: set[str] = set()

    def take(self, name: str) -> bool:
        """True: this thread now catches ``name`` up; False: another thread is at it and will
        make one more pass."""
        with self._lock:
            if name in self._busy:
                self._again.add(name)
                return False
            self._busy.add(name)
            self._again.discard(name)
            return True

    def done(self, name: str) -> bool:
        """At the head: True when one more pass was asked for meanwhile (the turn is kept),
        else False (the turn is given up)."""
        with self._lock:
            if name in self._again:
                self._again.discard(name)
                return True
            self._busy.discard(name)
            return False

    def give_up(self, name: str) -> None:
        with self._lock:
            self._busy.discard(name)
            self._again.discard(name)


HEAD, HELD, BUSY, STOPPED, HANDED_OFF = "head", "held", "busy", "stopped", "handed off"


def project(runtime, name: str, send: Callable[[str], object]) -> None:
    """The ``project(name)`` message: ``name`` caught up, for ``CATCH_UP_SECONDS`` at most."""
    end = time.monotonic() + CATCH_UP_SECONDS
    try:
        _catch_up(runtime, name, end, send, whole_batches=True)
    except Exception as error:  # noqa: BLE001 - raised again unless the store is away
        _store_away(runtime, error)


def project_all(runtime, send: Callable[[str], object]) -> None:
    """The ``project_all`` message: every view caught up here, the summaries first."""
    end = time.monotonic() + CATCH_UP_SECONDS
    names = list(runtime.runner.projections)
    pacer = getattr(runtime, "pacer", None)
    for i, name in enumerate(names):
        if runtime.stopping.is_set():
            return
        if time.monotonic() > end:  # the rest in messages of their own
            for rest in names[i:]:
                send(rest)
            return
        if pacer is not None and pacer.defer(name):  # its own message, once the pace allows
            continue
        try:
            _catch_up(runtime, name, end, send, whole_batches=False)
        except Exception as error:  # noqa: BLE001 - one view's failure stops no other view
            if unreachable(error):
                _store_away(runtime, error)
                return
            log.warning("%s did not catch up (%s: %s); it goes on in a message of its own",
                        name, type(error).__name__, error)
            send(name)


def _store_away(runtime, error: Exception) -> None:
    """Ends the message where the beat nudges again once the store answers; else raises."""
    if runtime.store_wait is None or not unreachable(error):
        raise error
    runtime.store_wait.down(error)


def _catch_up(runtime, name: str, end: float, send: Callable[[str], object],
              whole_batches: bool) -> str:
    """Catches ``name`` up while this thread has its turn; HEAD, HELD (by another runner,
    which catches up), BUSY (another thread of this process is at it), STOPPED (the process
    stops) or HANDED_OFF (the rest sent as a message of its own). ``whole_batches``: full
    batches go on here (else the view, far behind, is handed off)."""
    turns: Turns = runtime.turns
    full = getattr(runtime.runner.projections[name], "batch", None) or BATCH  # the view's own
    if not turns.take(name):
        return BUSY
    outcome = STOPPED
    pacer = getattr(runtime, "pacer", None)
    try:
        while not runtime.stopping.is_set():
            if pacer is not None:
                pacer.began(name)
            count = runtime.runner.run_once(name)
            if count is None:  # another runner holds the view and catches up for us
                outcome = HELD
                break
            if count == 0 or runtime.runner.at_head(name):  # no pass only to find nothing
                if turns.done(name):
                    continue
                outcome = HEAD
                break
            if time.monotonic() > end or (not whole_batches and count >= full):
                send(name)
                outcome = HANDED_OFF
                break
    finally:
        if outcome != HEAD:
            turns.give_up(name)
    if outcome in (HEAD, HELD) and name == AuditTrail.name:
        sign_head(runtime)
    return outcome


def sign_head(runtime, force: bool = False) -> None:
    """A signed tree head of the audit view's tree, when one is due (``force``: now); a
    failure to sign stops nothing (the next catch-up tries again)."""
    if runtime.evidence is None:
        return
    try:
        runtime.evidence.sign_if_due(force)
    except Exception as error:  # noqa: BLE001 - evidence must never stop the views
        if unreachable(error):
            raise
        log.exception("no tree head could be made: %s", error)
