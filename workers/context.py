"""What the actors work on, installed once per process by the composition root.

Actors are declared at import time, long before there is a database to talk to; they find the
application service, the views and the deadline schedule here when a message arrives.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

from workers.projecting import Turns

if TYPE_CHECKING:
    from domain.service import Towns
    from projections.runner import ProjectionRunner
    from projections.store import ViewStore
    from workers.deadlines import DeadlineSchedule
    from workers.pacing import Pacer
    from workers.store_wait import StoreWait


class HeadSigner(Protocol):
    """Signs and witnesses tree heads of the audit view's Merkle tree (the composition root
    hands in ``adapters.audit.evidence.checkpoints.Checkpoints``)."""

    def sign_if_due(self, force: bool = False) -> object: ...


def _unobserved(call_id: str, due: bool) -> None:
    """No metrics in this process."""


@dataclass
class Context:
    towns: Towns
    runner: ProjectionRunner
    store: ViewStore
    schedule: DeadlineSchedule
    evidence: HeadSigner | None = None
    """Signs and witnesses tree heads of the audit view's Merkle tree, where this process does."""
    on_deadline_checked: Callable[[str, bool], object] = _unobserved
    """Told of each deadline check run (the call, and whether it was due): the process's
    metrics, handed in by the composition root."""
    stopping: threading.Event = field(default_factory=threading.Event)
    """Set when the process shuts down: long catch-ups stop between batches."""
    store_wait: StoreWait | None = None
    """Where a process whose beat nudges the projections (``towns worker``) says that it waits
    for the store: a projection message that meets the store away is then dropped, not retried
    (the beat nudges again once the store answers). None: such a message fails, and dramatiq
    tries it again later."""
    turns: Turns = field(default_factory=Turns)
    """Which views a thread of this process is catching up (``workers.projecting``)."""
    pacer: Pacer | None = None
    """Where ``towns worker`` paces the views that need not follow every commit at once
    (``workers.pacing``); None: every view follows every nudge."""


_current: Context | None = None


class NotInstalled(RuntimeError):
    """An actor ran in a process whose composition root installed no context."""


def install(
    towns: Towns, runner: ProjectionRunner, store: ViewStore, schedule: DeadlineSchedule,
    evidence: HeadSigner | None = None,
    on_deadline_checked: Callable[[str, bool], object] = _unobserved,
) -> Context:
    """Makes these the actors' service, views and schedule in this process (replacing any)."""
    global _current
    _current = Context(towns, runner, store, schedule, evidence,
                       on_deadline_checked=on_deadline_checked)
    return _current


def uninstall(context: Context) -> None:
    """Removes ``context`` if it is still the current one."""
    global _current
    context.stopping.set()
    if _current is context:
        _current = None


def current() -> Context:
    if _current is None:
        raise NotInstalled("no runtime in this process: build one with the composition root (build_runtime)")
    return _current


def installed() -> Context | None:
    return _current
