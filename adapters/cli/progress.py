"""Progress of the commands that can run for a while, on stderr, never on stdout's data.

``progress(what, unit)`` gives a reporter to hand to a long piece of work as its
``on_progress(done, total)``. On a terminal it is a ``rich`` bar with the count, the rate and
the time left, gone once the work is done. Anywhere else (a log file, a pipe) it writes plain
lines such as ``towns audit verify: 4,000 of 10,000 records (40%), 812/s, about 7s left``: the
first once ``EVERY_SECONDS`` have passed, then one at each further tenth of the work or every
``EVERY_SECONDS``, whichever comes first, and a last one with the time taken when the work is
done (``towns audit verify: 10,000 of 10,000 records (100%) in 12s``). Work that is
done before a line was due writes nothing. Work of unknown size (a total of 0) is told as the
count, the time so far and the rate: ``towns backup pg_dump: 52,428,800 bytes written in 12s
(4,369,066/s)``. ``phases(what, unit)`` is for work in named steps: a reporter per step.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from typing import TextIO

EVERY_SECONDS = 5.0
STEPS = 10  # a line at each tenth of the work


class PlainLines:
    """``on_progress(done, total)`` writing an occasional line to ``out``."""

    def __init__(self, what: str, unit: str, out: TextIO,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.what, self.unit, self.out, self.clock = what, unit, out, clock
        self.started = self.last = clock()
        self.step = 0  # the tenth of the work reached at the last line
        self.lines = 0
        self.done = self.total = 0

    def __call__(self, done: int, total: int) -> None:
        self.done, self.total = done, total
        now = self.clock()
        step = STEPS * done // total if total > 0 else 0
        finished = total > 0 and done >= total
        if finished and not self.lines:
            return  # done before a line was due
        due = now - self.last >= EVERY_SECONDS or (self.lines and step > self.step)
        if due and not finished:
            self._line(now, step)

    def close(self) -> None:
        """The last line, where earlier ones were written."""
        if self.lines:
            self._line(self.clock(), STEPS)

    def _line(self, now: float, step: int) -> None:
        self.last, self.step, self.lines = now, step, self.lines + 1
        self.out.write(f"{self.what}: {self.describe(now)}\n")
        self.out.flush()

    def describe(self, now: float) -> str:
        done, total, unit = self.done, self.total, self.unit
        elapsed = now - self.started
        if total <= 0:
            rate = f" ({done / elapsed:,.0f}/s)" if elapsed > 0 and done > 0 else ""
            return f"{done:,} {unit} in {elapsed:,.0f}s{rate}"
        text = f"{done:,} of {total:,} {unit} ({100 * done // total}%)"
        if done >= total:
            return f"{text} in {elapsed:,.0f}s"
        if elapsed <= 0 or done <= 0:
            return text
        rate = done / elapsed
        return f"{text}, {rate:,.0f}/s, about {(total - done) / rate:,.0f}s left"


class Bar:
    """``on_progress(done, total)`` drawing a ``rich`` bar on the terminal of ``out``."""

    def __init__(self, what: str, unit: str, out: TextIO) -> None:
        from rich.console import Console
        from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TaskProgressColumn,
                                   TextColumn, TimeRemainingColumn)

        self.progress = Progress(
            TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
            TextColumn(unit), TaskProgressColumn(),
            TextColumn("{task.fields[rate]}"), TimeRemainingColumn(),
            console=Console(file=out), transient=True,
            redirect_stdout=False, redirect_stderr=False)  # stdout's data is left alone
        self.task = self.progress.add_task(what, total=None, rate="")
        self.progress.start()

    def __call__(self, done: int, total: int) -> None:
        task = self.progress.tasks[0]
        speed = task.speed
        self.progress.update(self.task, completed=done, total=total or None,
                             rate=f"{speed:,.0f}/s" if speed else "")

    def close(self) -> None:
        self.progress.stop()


@contextmanager
def progress(what: str, unit: str, out: TextIO | None = None) -> Iterator[PlainLines | Bar]:
    """The reporter for ``out`` (stderr): ``Bar`` on a terminal, else ``PlainLines``; on
    leaving, the bar is taken away, and the last line written where the work was done."""
    out = out or sys.stderr
    terminal = getattr(out, "isatty", lambda: False)()
    reporter = Bar(what, unit, out) if terminal else PlainLines(what, unit, out)
    try:
        yield reporter
    except BaseException:
        if isinstance(reporter, Bar):
            reporter.close()
        raise
    reporter.close()


@contextmanager
def polled(count: Callable[[], int], total: int, on_progress: Callable[[int, int], None],
           every: float = 0.5) -> Iterator[None]:
    """For work with no progress hook of its own but a count to read: ``on_progress`` is told
    (``count()``, ``total``) every ``every`` seconds from a thread of its own, and once more at
    the end."""
    stop = threading.Event()

    def watch() -> None:
        while not stop.wait(every):
            on_progress(min(count(), total), total)

    watcher = threading.Thread(target=watch, name="progress", daemon=True)
    watcher.start()
    try:
        yield
    finally:
        stop.set()
        watcher.join()
    on_progress(min(count(), total), total)


class Phases:
    """``on_progress(step, done, total)`` for work in named steps: each step is told by a
    reporter of its own (``progress(f"{what} {step}", unit)``), closed as the next step begins,
    at ``end()`` (before the command writes to stdout), or on leaving ``phases``."""

    def __init__(self, what: str, unit: str, out: TextIO | None, steps: ExitStack) -> None:
        self.what, self.unit, self.out, self.steps = what, unit, out, steps
        self.step: str | None = None
        self.reporter: Callable[[int, int], None] | None = None

    def __call__(self, step: str, done: int, total: int) -> None:
        if step != self.step or self.reporter is None:
            self.end()
            self.reporter = self.steps.enter_context(
                progress(f"{self.what} {step}", self.unit, self.out))
            self.step = step
        self.reporter(done, total)

    def end(self) -> None:
        """The open step, if any, is done: its last line written, its bar taken away."""
        self.reporter, self.step = None, None
        self.steps.close()


@contextmanager
def phases(what: str, unit: str, out: TextIO | None = None) -> Iterator[Phases]:
    """``Phases`` for the work inside; on leaving, the open step is done (or, on an error,
    its bar taken away)."""
    with ExitStack() as steps:
        yield Phases(what, unit, out, steps)
