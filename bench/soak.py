"""Soak: a long steady stream through the service as deployed (`towns consume`, `towns worker`,
`towns serve`, `bench/system.py`), checking that nothing drifts and nothing is lost.

    .venv/bin/python bench/soak.py [COUNT] [RATE] [TRACK_EVERY]
    make soak SOAK_COUNT=1000000 SOAK_RATE=1000          # the defaults; ~17 min at 1,000/s

COUNT (env SOAK_COUNT, 1,000,000) messages of whole life cycles are published at RATE (env
SOAK_RATE, 1,000/s) to towns.inbound, every TRACK_EVERY-th (env SOAK_TRACK_EVERY, default
COUNT / 10,000, so 100 for a million) tracked from publish to visible through the read API
(``bench.visibility.Visibility``: the summaries list and `GET /api/v1/applications/…`). Every 10 s the
resident memory of each process (with its children) is sampled. After the last message: wait
until every message is stored, the read models have caught up and the tracked messages are
visible, then one verdict per criterion:

1. memory: after the warm-up (the first 10 % of the run, at least 60 s), every sample of each
   process stays within ±10 % of that process's reference, the median of its first three
   samples after the warm-up;
2. latency: the p99 of publish → visible over the last 100,000 messages (COUNT / 10 when that
   is less) is within 20 % of the p99 over the first 100,000 (or at most 10 ms above it, the
   method's resolution, where both are that small);
3. nothing lost, nothing doubled: COUNT application events stored, each message id once, COUNT
   inbox markers; the summaries' versions add up to COUNT; towns.inbound empty; no dead letter
   (towns.inbound.dead empty, `towns_dead_letters_open` 0) and nothing parked
   (`towns_parked_messages` 0), read from the server's /metrics;
4. the rate: the publisher kept to RATE (the achieved rate is printed; a machine that cannot
   sustain it shows here, and in the latency).

Where the server's autovacuum is off (as on the machine the figures come from), its rules are
applied to the run's tables in its stead, at its pace (``bench.autovacuum``), as a deployed
server would: the views update each application's rows six times.

Progress is printed every 60 s (published, the log's head, read models behind, tracked
outstanding and the p99 of those seen in the minute, resident memory): nothing in it scans a
table, so that watching does not slow the run more as the tables grow. Ctrl-C stops the publisher and the processes and removes the vhost and schema.
"""

from __future__ import annotations

import http.client
import os
import statistics
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.autovacuum import Autovacuum  # noqa: E402
from bench.stream import stream  # noqa: E402
from bench.system import System  # noqa: E402
from bench.visibility import Visibility, percentile  # noqa: E402

SAMPLE_SECONDS = 10
MEMORY_BAND = 0.10
LATENCY_BAND = 0.20
RESOLUTION_MS = 10.0


def metric(system: System, name: str) -> float | None:
    """A gauge of the server's /metrics (Prometheus' text format)."""
    conn = http.client.HTTPConnection("127.0.0.1", system.port, timeout=30)
    try:
        conn.request("GET", "/metrics")
        text = conn.getresponse().read().decode()
    finally:
        conn.close()
    for line in text.splitlines():
        if line.startswith(name + " ") or line.startswith(name + "{"):
            return float(line.rsplit(" ", 1)[1])
    return None


class Sampler:
    """Resident memory of each process every SAMPLE_SECONDS, with the time and messages
    published so far."""

    def __init__(self, system: System, progress) -> None:
        self.system, self.progress = system, progress
        self.samples: list[tuple[float, dict[str, int]]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="rss", daemon=True)
        self.start = time.time()

    def run(self) -> Sampler:
        self._thread.start()
        return self

    def _run(self) -> None:
        beat = 0
        while not self._stop.wait(SAMPLE_SECONDS):
            self.samples.append((time.time() - self.start, self.system.rss()))
            beat += 1
            if beat % (60 // SAMPLE_SECONDS) == 0:
                self.progress()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(30)


def memory_verdicts(samples, warm_up: float) -> list[tuple[str, bool, str]]:
    out = []
    names = sorted({n for _, s in samples for n in s})
    for name in names:
        after = [s[name] for t, s in samples if t >= warm_up and s.get(name)]
        before = [s[name] for t, s in samples if t < warm_up and s.get(name)]
        if len(after) < 3:
            out.append((name, False, f"only {len(after)} samples after the warm-up"))
            continue
        reference = statistics.median(after[:3])
        low, high = min(after), max(after)
        ok = reference * (1 - MEMORY_BAND) <= low and high <= reference * (1 + MEMORY_BAND)
        out.append((name, ok, (
            f"start {before[0] / 1024 if before else after[0] / 1024:.0f} MiB, reference "
            f"{reference / 1024:.0f} MiB, after warm-up {low / 1024:.0f}–{high / 1024:.0f} MiB "
            f"({(low / reference - 1) * 100:+.1f} % to {(high / reference - 1) * 100:+.1f} %), last "
            f"{after[-1] / 1024:.0f} MiB; {len(after)} samples")))
    return out


def main() -> None:
    count = int(sys.argv[1]) if len(sys.argv) > 1 else int(os.environ.get("SOAK_COUNT", 1_000_000))
    per_second = float(sys.argv[2]) if len(sys.argv) > 2 else float(os.environ.get("SOAK_RATE", 1000))
    every = int(sys.argv[3]) if len(sys.argv) > 3 else int(
        os.environ.get("SOAK_TRACK_EVERY", max(1, count // 10_000)))
    window = min(100_000, count // 10)
    duration = count / per_second
    warm_up = max(60.0, duration / 10)
    print(f"soak: {count:,} messages at {per_second:,.0f}/s (~{duration / 60:.1f} min), every "
          f"{every}. tracked to visible; memory every {SAMPLE_SECONDS} s, warm-up {warm_up:.0f} s; "
          f"latency windows of {window:,} messages", flush=True)
    with System("soak") as system:
        system.start("worker", "serve", "consume")
        tracker = Visibility(system, 0.010).start()
        published = 0
        began = time.time()

        reported = 0

        def progress() -> None:
            nonlocal reported
            try:
                head = system.store.one(
                    "SELECT coalesce(max(notification_id), 0) FROM towns_events")[0]
                behind = system.projections_behind()
            except Exception as error:  # noqa: BLE001 - progress only
                head, behind = f"? ({error})", "?"
            seen, reported = tracker.results[reported:], len(tracker.results)
            p99 = f"{percentile([ms for _, ms, _ in seen], 99):.0f} ms" if seen else "-"
            rss = ", ".join(f"{n} {kib / 1024:.0f} MiB" for n, kib in system.rss().items())
            print(f"  {time.time() - began:6.0f} s: published {published:,}, log head {head:,}, "
                  f"views behind {behind}, tracked outstanding {tracker.outstanding()}, p99 of "
                  f"the minute's {len(seen)} {p99}; {rss}", flush=True)

        sampler = Sampler(system, progress).run()
        vacuum = Autovacuum(system.db).run()

        def on_publish(message, sent) -> None:
            nonlocal published
            published = message.index + 1
            if message.index % every == 0:
                tracker.track(message, sent)

        publisher = system.publisher()
        try:
            publisher.run(stream(count, "S"), per_second, on_publish)
        finally:
            publisher.close()
        if publisher.resent:
            print(f"the broker's connection was lost under the publisher: {publisher.resent} "
                  "messages sent again", flush=True)
        publish_seconds = time.time() - began
        print(f"published {published:,} in {publish_seconds:.0f} s "
              f"({published / publish_seconds:,.0f}/s)", flush=True)
        deadline = time.time() + max(300, duration / 2)
        while system.store.application_events() < count and time.time() < deadline:
            system.check_alive()
            time.sleep(0.5)
        while system.projections_behind() != 0 and time.time() < deadline:
            time.sleep(0.5)
        tracker.wait(max(30, deadline - time.time()))
        drained = time.time() - began - publish_seconds
        sampler.stop()
        tracker.stop()
        vacuumed = vacuum.stop()
        system.check_alive()

        store = system.store
        events, distinct = store.one(
            "SELECT count(*), count(DISTINCT convert_from(state, 'UTF8')::jsonb ->> 'message_id') "
            "FROM towns_events WHERE topic LIKE 'towns:Application.%%'")
        markers = store.one("SELECT count(*) FROM towns_events WHERE topic LIKE 'towns:Inbox%%'")[0]
        versions = store.one("SELECT coalesce(sum(version), 0) FROM application_summaries")[0]
        left = system.queue("towns.inbound").get("messages")
        dead = system.queue("towns.inbound.dead").get("messages")
        dead_open = metric(system, "towns_dead_letters_open")
        parked = metric(system, "towns_parked_messages")

    print(f"drained {drained:.0f} s after the last publish; {vacuumed}\n")
    verdicts = []
    for name, ok, detail in memory_verdicts(sampler.samples, warm_up):
        verdicts.append(ok)
        print(f"memory {name:8} {'PASS' if ok else 'FAIL'}: {detail}")

    results = tracker.results
    first = [ms for i, ms, _ in results if i < window]
    last = [ms for i, ms, _ in results if i >= count - window]
    everything = [ms for _, ms, _ in results]
    if first and last:
        p99_first, p99_last = percentile(first, 99), percentile(last, 99)
        ok = p99_last <= max(p99_first * (1 + LATENCY_BAND), p99_first + RESOLUTION_MS)
        verdicts.append(ok)
        print(f"latency  {'PASS' if ok else 'FAIL'}: p99 publish → visible, first {window:,} "
              f"{p99_first:.1f} ms ({len(first)} tracked), last {window:,} {p99_last:.1f} ms "
              f"({len(last)} tracked): {(p99_last / p99_first - 1) * 100:+.0f} %; whole run p50 "
              f"{statistics.median(everything):.1f}, p95 {percentile(everything, 95):.1f}, p99 "
              f"{percentile(everything, 99):.1f}, max {max(everything):.1f} ms; "
              f"{len(results)} of {(count + every - 1) // every} tracked seen; median resolution "
              f"{statistics.median(ms - lo for _, ms, lo in results):.1f} ms; unreadable "
              f"{tracker.unreadable}")
    else:
        verdicts.append(False)
        print(f"latency  FAIL: too few tracked messages seen ({len(results)})")

    whole = (events == count and distinct == count and markers == count and versions == count
             and left == 0 and dead == 0 and dead_open == 0 and parked == 0)
    verdicts.append(whole)
    print(f"messages {'PASS' if whole else 'FAIL'}: published {published:,}; application events "
          f"{events:,} ({distinct:,} distinct message ids: {events - distinct:,} doubled, "
          f"{count - distinct:,} lost); inbox markers {markers:,}; summaries' versions {versions:,}; "
          f"left in towns.inbound {left}; dead letters on the queue {dead}, open {dead_open:g}; "
          f"parked {parked:g}")
    achieved = published / publish_seconds
    kept = achieved >= per_second * 0.98
    verdicts.append(kept)
    print(f"rate     {'PASS' if kept else 'FAIL'}: {achieved:,.0f}/s of {per_second:,.0f}/s asked")
    print(f"\nsoak: {'PASS' if all(verdicts) else 'FAIL'} ({sum(verdicts)} of {len(verdicts)} criteria met)")
    sys.exit(0 if all(verdicts) else 1)


if __name__ == "__main__":
    main()
