"""Trying a projection's set-aside events again (``ProjectionRunner.retry``)."""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from projections import set_aside
from projections.base import Projection
from projections.errors import Busy, NotSetAside
from projections.set_aside import SetAside
from projections.store import Tx, unreachable


@dataclass(frozen=True)
class Retried:
    """What ``ProjectionRunner.retry`` did for one projection: the positions it tried again,
    those the view took (their records marked retried) and those still set aside."""

    name: str
    tried: list[int]
    taken: list[int]
    still: list[int]
    rebuilt: bool


class _Trial(Exception):
    """Raised to undo a trial of set-aside events."""


def retry(runner: Any, name: str, position: int | None = None,
          on_progress: Callable[[int, int], None] | None = None) -> Retried:
    """Tries the open set-aside events of ``runner``'s projection ``name`` again (only the
    one at ``position`` when given).

    No view here can take an event out of order: the application rows and the pipeline
    fold each application's events in log order (a standing, the last of a kind wins), and
    the audit trail links every notification to the one before it. So an event that now
    applies is not applied alone where it fell out: first each chosen event is tried alone,
    in log order, on the live tables inside a savepoint that is always undone (a trial:
    nothing of it stays). If none applies, each stays set aside with one attempt more and
    its latest reason. If any applies, the view is rebuilt from zero (``rebuild``), every
    event in log order; the records of the events the rebuilt view took are marked
    retried, and the others (every open one of the view, tried again by the rebuild) stay
    set aside with one attempt more. A trial that passes where the rebuild still fails
    costs a rebuild, never a wrong row. ``on_progress`` is told (position, head) as the
    rebuild goes, if there is one."""
    projection = runner.projection(name)
    chosen = [r for r in runner.set_aside([name]) if position is None or r.position == position]
    if position is not None and not chosen:
        raise NotSetAside(f"{name} has no event set aside at position {position}")
    if not chosen:
        return Retried(name, [], [], [], False)
    with runner.store.transaction() as tx:
        if not tx.try_lock(name):
            raise Busy(f"{name} is being projected by another runner; try again")
        failed = _trial(runner, tx, projection, chosen)
        if len(failed) == len(chosen):
            for record in chosen:
                set_aside.failed_again(tx, name, record.position, failed[record.position])
    tried = [r.position for r in chosen]
    if len(failed) == len(chosen):
        return Retried(name, tried, [], tried, False)
    runner.rebuild(name, on_progress=on_progress)
    still = {r.position for r in runner.set_aside([name])}
    return Retried(name, tried, [p for p in tried if p not in still],
                   [p for p in tried if p in still], True)


def _trial(runner: Any, tx: Tx, projection: Projection,
           chosen: list[SetAside]) -> dict[int, str]:
    """Applies the chosen events one by one in log order (each taken builds on those before
    it) and undoes it all; why each that failed did. A copy of the projection applies them,
    so that nothing it keeps in memory outlives the trial."""
    failed: dict[int, str] = {}
    names = projection.live_names()
    projection = copy.deepcopy(projection)
    try:
        with tx.savepoint():
            for record in chosen:
                found = runner.log.after(record.position - 1, 1)
                if not found or found[0].position != record.position:
                    failed[record.position] = "the event is no longer in the log"
                    continue
                try:
                    with tx.savepoint():
                        projection.trial(tx, names, runner._decoded(projection, found[0]))
                except Exception as error:
                    if unreachable(error):
                        raise
                    failed[record.position] = set_aside.reason_of(error)
            raise _Trial
    except _Trial:
        pass
    return failed
