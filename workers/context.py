"""What the actors work on, installed once per process by the composition root.

Actors are declared at import time, long before there is a database to talk to; they find the
application service, the views and the deadline schedule here when a message arrives.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from domain.service import Towns
    from projections.runner import ProjectionRunner
    from projections.store import ViewStore
    from adapters.audit.evidence.checkpoints import Checkpoints
    from workers.deadlines import DeadlineSchedule


@dataclass
class Context:
    towns: Towns
    runner: ProjectionRunner
    store: ViewStore
    schedule: DeadlineSchedule
    evidence: Checkpoints | None = None
    """Signs and witnesses tree heads of the audit view's Merkle tree, where this process does."""
    stopping: threading.Event = field(default_factory=threading.Event)
    """Set when the process shuts down: long catch-ups stop between batches."""


_current: Context | None = None


class NotInstalled(RuntimeError):
    """An actor ran in a process whose composition root installed no context."""


def install(
    towns: Towns, runner: ProjectionRunner, store: ViewStore, schedule: DeadlineSchedule,
    evidence: Checkpoints | None = None,
) -> Context:
    """Makes these the actors' service, views and schedule in this process (replacing any)."""
    global _current
    _current = Context(towns, runner, store, schedule, evidence)
    return _current


def uninstall(context: Context) -> None:
    """Removes ``context`` if it is still the current one."""
    global _current
    context.stopping.set()
    if _current is context:
        _current = None


def current() -> Context:
    if _current is None:
        raise NotInstalled("no runtime in this process: build one with adapters.bootstrap.build_runtime")
    return _current


def installed() -> Context | None:
    return _current
