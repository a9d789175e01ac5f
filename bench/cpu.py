"""Where a benchmark's machine spends its cores: the CPU time of each group of processes (the
towns commands, PostgreSQL, RabbitMQ, the benchmark itself) over a window of wall-clock time,
and how busy the machine was in it, from ``/proc`` sampled in a background thread.

    with CpuSampler() as cpu:
        ...                          # the run; note time.time() where the window starts and ends
    usage = cpu.usage(start, end)    # usage.by_group["postgres"]: CPU seconds in the window

A process is grouped by its command line (``towns consume``, ``towns worker``, ``towns serve``,
``postgres``, RabbitMQ's ``beam.smp``), the sampling process as ``bench``; anything else is
``other``. The window is widened to the samples around it (every ``interval`` seconds), so a
window of a few seconds is measured to within a few per cent.
"""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass

GROUPS = ("consume", "worker", "serve", "postgres", "rabbitmq", "bench", "other")
_TICK = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class Usage:
    seconds: float  # the window's wall time, as sampled
    busy: float  # the machine's busy share of all its cores in the window, 0..1
    by_group: dict[str, float]  # CPU seconds per group in the window

    def per_item(self, count: int, group: str) -> float:
        """Microseconds of CPU per item (message) for ``group``."""
        return self.by_group.get(group, 0.0) / count * 1e6 if count else 0.0

    def total(self) -> float:
        return sum(self.by_group.values())


class CpuSampler:
    def __init__(self, interval: float = 0.2) -> None:
        self.interval = interval
        self.me = os.getpid()
        self.samples: list[tuple[float, float, dict[int, tuple[str, float]], int, int]] = []
        """(started, ended, CPU by process, idle and all jiffies): a sample reads ``/proc`` for
        a while (longer when this process is busy), so it is known only to lie between the two."""
        self._groups: dict[int, str] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="cpu-sampler", daemon=True)

    def __enter__(self) -> CpuSampler:
        self._sample()
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(5)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self._sample()

    def _sample(self) -> None:
        started = time.time()
        cpu: dict[int, tuple[str, float]] = {}
        for name in os.listdir("/proc"):
            if not name.isdigit():
                continue
            pid = int(name)
            try:
                with open(f"/proc/{pid}/stat", "rb") as f:
                    fields = f.read().rsplit(b")", 1)[1].split()
                group = self._groups.get(pid) or self._group_of(pid)
            except OSError:
                continue
            cpu[pid] = (group, (int(fields[11]) + int(fields[12])) / _TICK)
        with open("/proc/stat", "rb") as f:
            jiffies = [int(x) for x in f.readline().split()[1:]]
        self.samples.append((started, time.time(), cpu, jiffies[3] + jiffies[4], sum(jiffies)))

    def _group_of(self, pid: int) -> str:
        if pid == self.me:
            group = "bench"
        else:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                words = f.read().split(b"\0")
            line = b" ".join(words)
            group = "other"
            for command in (b"consume", b"worker", b"serve"):
                if any(w.endswith(b"towns") for w in words[:2]) and command in words[1:3]:
                    group = command.decode()
            if words and b"postgres" in words[0]:
                group = "postgres"
            elif b"beam.smp" in line:
                group = "rabbitmq"
        self._groups[pid] = group
        return group

    def usage(self, start: float, end: float) -> Usage:
        """CPU by group between the last sample taken wholly before ``start`` and the first
        taken wholly after ``end`` (one taken now if the run has not reached it yet): the
        window is widened to the samples around it, never narrowed."""
        samples = sorted(self.samples, key=lambda x: x[1])
        earlier = [x for x in samples if x[1] <= start]
        later = [x for x in samples if x[0] >= end]
        if not later:
            self._sample()
            later = [self.samples[-1]]
        first = earlier[-1] if earlier else samples[0]
        (t0, _, before, idle_0, total_0), (_, t1, after, idle_1, total_1) = first, later[0]
        by_group = dict.fromkeys(GROUPS, 0.0)
        for pid, (group, seconds) in after.items():
            previous = before.get(pid)
            by_group[group] += seconds - (previous[1] if previous and previous[0] == group else 0.0)
        busy = 1 - (idle_1 - idle_0) / (total_1 - total_0) if total_1 > total_0 else 0.0
        return Usage(t1 - t0, busy, by_group)
