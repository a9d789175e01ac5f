"""Publish → visible, for the system benchmarks: when each tracked message could be read through
the read API; and the memory and CPU of each process."""

from __future__ import annotations

import os
import threading
import time
from typing import TYPE_CHECKING

from bench.stream import Message

if TYPE_CHECKING:
    from bench.system import System


def rss_kib(pid: int) -> int:
    """Resident memory of a process and its descendants, KiB (0 once it is gone)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    ppid = int(f.read().rsplit(")", 1)[1].split()[1])
                children.setdefault(ppid, []).append(int(entry))
            except (OSError, IndexError, ValueError):
                pass
    total, todo = 0, [pid]
    while todo:
        p = todo.pop()
        try:
            with open(f"/proc/{p}/status") as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1])
        except OSError:
            pass
        todo += children.get(p, [])
    return total


def cpu_seconds(pid: int) -> float:
    """User + system CPU of a process so far (its own threads), seconds."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except OSError:
        return 0.0


# -- publish → visible ----------------------------------------------------------------------

class Visibility:
    """When each tracked message became visible through the read API: its application's
    version in the summaries list (`GET /api/v1/applications`, the read model the page's
    pipeline and applications panels read) and in `GET /api/v1/applications/{call}/{ref}`
    (a replay of the event store) has reached the message's.

    One poller thread. Every `poll` seconds, while tracked messages are outstanding, it reads
    the stretch of the summaries list that holds their applications: one page from the keyset
    cursor just before the lowest outstanding ref (the stream's refs are neighbours, so one page
    of at most 500 covers everything outstanding, two where the stream turned to the next step
    of a block). A message counts as visible when the answer that shows its version arrives.
    The summaries are made from the committed log only, so an application shown there at a
    version is readable at that version through `GET /api/v1/applications/{call}/{ref}`, which
    replays the store: the poller checks that with one such read per round (the newest message
    the round found visible) and counts any that does not hold (``unreadable``).

    The latency is an upper bound: the message became visible after the last request that did
    not show it was sent (kept as the lower bound, or its publish) and before the answer that
    did; the bracket's width is the method's resolution (about the poll interval plus one
    request). The load on the server does not grow with the rate: one or two list requests and
    one read per round, whatever is outstanding."""

    def __init__(self, system: System, poll: float = 0.010) -> None:
        self.system, self.poll = system, poll
        self.pending: dict[int, tuple[Message, float]] = {}  # index → (message, publish time)
        self.lock = threading.Lock()
        self.results: list[tuple[int, float, float]] = []  # (index, latency ms, lower bound ms)
        self.requests = 0
        self.errors = 0
        self.unreadable = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="visibility", daemon=True)

    def start(self) -> Visibility:
        self._thread.start()
        return self

    def track(self, message: Message, published: float) -> None:
        with self.lock:
            self.pending[message.index] = (message, published)

    def outstanding(self) -> int:
        with self.lock:
            return len(self.pending)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(30)

    def wait(self, timeout: float) -> bool:
        deadline = time.time() + timeout
        while self.outstanding() and time.time() < deadline:
            time.sleep(0.05)
        return not self.outstanding()

    def _run(self) -> None:
        last_miss: dict[int, float] = {}
        while not self._stop.is_set():
            round_start = time.perf_counter()
            with self.lock:
                todo = sorted(self.pending.values(), key=lambda mp: mp[0].ref)
            newest = None
            while todo and not self._stop.is_set():
                first = int(todo[0][0].ref[1:])
                covered = [mp for mp in todo if int(mp[0].ref[1:]) - first < PAGE]
                todo = todo[len(covered):]
                sent = time.time()
                try:
                    self.requests += 1
                    items = self.system.summaries_after(
                        key_before(covered[0][0].ref),
                        int(covered[-1][0].ref[1:]) - first + 1)
                except Exception:  # noqa: BLE001 - a failed request is a miss, counted
                    self.errors += 1
                    continue
                seen = time.time()
                versions = {item["application_ref"]: item["version"] for item in items}
                for message, published in covered:
                    if versions.get(message.ref, 0) >= message.version:
                        lower = last_miss.pop(message.index, published)
                        self.results.append((message.index, (seen - published) * 1000,
                                             (lower - published) * 1000))
                        with self.lock:
                            del self.pending[message.index]
                        if newest is None or message.index > newest.index:
                            newest = message
                    else:
                        last_miss[message.index] = sent
            if newest is not None:
                try:
                    self.requests += 1
                    app = self.system.application(newest.ref)
                    if not app or app["version"] < newest.version:
                        self.unreadable += 1
                except Exception:  # noqa: BLE001
                    self.errors += 1
            pause = self.poll - (time.perf_counter() - round_start)
            self._stop.wait(max(pause, 0.001))


PAGE = 500  # the list's largest page


def key_before(ref: str) -> str:
    """A key just before ``ref`` in the list's order (byte order, as the C collation sorts; the
    refs are a letter and digits): no ref of the stream lies between it and ``ref``."""
    last = ref[-1]
    return ref[:-1] if last == "0" else ref[:-1] + chr(ord(last) - 1) + "~"


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))] if ordered else float("nan")
