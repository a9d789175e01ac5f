"""Memory probe: where the resident memory of `towns consume` and `towns worker` goes during a
steady stream (what `soak.py` measures, with the allocation sites to show for it).

    .venv/bin/python bench/memory_probe.py [COUNT] [RATE] [EVERY_SECONDS] [WARM_UP_SECONDS]

The service runs as `soak.py` runs it (``bench.system.System``: its vhost, schema and
configuration), but the consumer and the worker are started through this module's child mode,
which, from WARM_UP_SECONDS (default 60) on, every EVERY_SECONDS (default 30) writes to
``<folder>/<name>.probe`` the process's resident memory; the objects the cyclic collector
tracks, by type, before and after a full collection (``gc.collect``): the cyclic garbage that
waited for one, and the objects kept that grew since the first report (the baseline), with the
shape and holders of the type that grew most. With ``PROBE_FRAMES`` set (frames per trace),
``tracemalloc`` is started at WARM_UP_SECONDS too, so that only what is allocated from then on
is traced, and the allocation sites that grew most since the baseline are written, by line and
by traceback. The report's full collection every EVERY_SECONDS changes what it measures a
little: the process never waits longer than that for one. COUNT (default 60,000) messages are
published at RATE (default 1,000/s); the probes' last reports are printed when everything is
stored, and all of them kept in ``$PROBE_KEEP/memory_probe_<name>.txt`` (default /tmp).

Tracing slows a process down (several times): the figures to read are the growth per message,
not the rates.
"""

from __future__ import annotations

import gc
import os
import subprocess
import sys
import threading
import time
import tracemalloc
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

PYTHON = ROOT / ".venv" / "bin" / "python"


# -- the child: the CLI, traced ------------------------------------------------------------------

def _rss_kib() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def _types() -> Counter:
    return Counter(type(o).__qualname__ for o in gc.get_objects())


def _shapes(kind: str, sample: int = 20_000) -> list[str]:
    """What the youngest objects of ``kind`` look like (their shape, what holds them)."""
    young = [o for o in gc.get_objects(0) + gc.get_objects(1) if type(o).__qualname__ == kind]
    young = young[-sample:]
    shapes = Counter(_shape(o) for o in young)
    holders: Counter = Counter()
    for o in young[:: max(1, len(young) // 40)]:
        for r in gc.get_referrers(o):
            if r is not young:
                holders[_shape(r)] += 1
    return [f"-- young {kind}: {len(young)}; shapes {shapes.most_common(6)}",
            f"   held by {holders.most_common(6)}"]


def _shape(o) -> str:
    if isinstance(o, (tuple, list)):
        return f"{type(o).__qualname__}[{len(o)}]({','.join(type(x).__qualname__ for x in o[:4])})"
    if isinstance(o, dict):
        return f"dict[{len(o)}]({','.join(map(str, list(o)[:4]))[:80]})"
    return type(o).__qualname__


def _report(out: Path, started: float, baseline, types0: Counter | None, top: int):
    """One report; returns (snapshot or None, the live objects' types after a full collection)."""
    before = _types()
    gc.collect()  # what waited for a full collection is told apart from what is kept
    after = _types()
    lines = [(f"== {time.monotonic() - started:7.0f} s: rss {_rss_kib() / 1024:.1f} MiB, gc objects "
              f"{sum(before.values())} -> {sum(after.values())} after a full collection, threads "
              f"{threading.active_count()}"),
             "-- garbage a full collection freed, by type: " + ", ".join(
                 f"{n} {c}" for n, c in (before - after).most_common(top))]
    snapshot = None
    if tracemalloc.is_tracing():
        snapshot = tracemalloc.take_snapshot().filter_traces((
            tracemalloc.Filter(False, tracemalloc.__file__),
            tracemalloc.Filter(False, "<frozen importlib._bootstrap>"),
        ))
        traced, peak = tracemalloc.get_traced_memory()
        lines.append(f"-- traced {traced / 2**20:.1f} MiB (peak {peak / 2**20:.1f})")
        if baseline is not None:
            lines.append("-- growth by line since the baseline")
            lines.extend(f"   {stat}" for stat in snapshot.compare_to(baseline, "lineno")[:top])
            lines.append("-- growth by traceback")
            for stat in snapshot.compare_to(baseline, "traceback")[: max(3, top // 3)]:
                lines.append(f"   {stat.size_diff / 1024:+.1f} KiB, {stat.count_diff:+d} blocks:")
                lines.extend(f"      {frame}" for frame in stat.traceback.format())
    if types0 is not None:
        grown = [(n, c) for n, c in (after - types0).most_common(top + 5)
                 if n not in ("tuple", "_Traces", "Snapshot", "StatisticDiff", "Traceback")][:top]
        lines.append("-- kept objects grown since the baseline, by type: " + ", ".join(
            f"{n} +{c}" for n, c in grown))
        if grown:
            lines.extend(_shapes(grown[0][0]))
    with out.open("a") as f:
        f.write("\n".join(lines) + "\n")
    return snapshot, after


def child(name: str, out: Path, every: float, warm_up: float) -> None:
    started = time.monotonic()
    frames = int(os.environ.get("PROBE_FRAMES", "0"))

    def watch() -> None:
        baseline = types0 = None
        time.sleep(warm_up)  # traced from here on: what start-up and warm-up keep is not
        if frames:
            tracemalloc.start(frames)
        while True:
            time.sleep(every)
            try:
                snapshot, types = _report(out, started, baseline, types0, 25)
                if types0 is None:
                    baseline, types0 = snapshot, types
                    with out.open("a") as f:
                        f.write("(baseline taken)\n")
            except Exception as error:  # noqa: BLE001 - the probe never stops the process
                with out.open("a") as f:
                    f.write(f"probe failed: {error!r}\n")

    threading.Thread(target=watch, name="memory-probe", daemon=True).start()
    from adapters.cli import main

    sys.argv = ["towns", name]
    sys.exit(main())


# -- the parent: the system, the stream ----------------------------------------------------------

def parent(count: int, rate: float, every: float, warm_up: float) -> None:
    from bench.stream import stream
    from bench.system import System, _die_with_parent

    with System("probe") as system:
        for name in ("worker", "consume"):
            log = open(system.folder / f"{name}.log", "ab")
            system.procs[name] = subprocess.Popen(
                [str(PYTHON), __file__, "--child", name, str(system.folder / f"{name}.probe"),
                 str(every), str(warm_up)],
                cwd=ROOT, env=system.env, stdout=log, stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL, preexec_fn=_die_with_parent)
            log.close()
            system.wait_ready(name, timeout=180)
        print(f"probe: {count:,} messages at {rate:,.0f}/s; reports every {every:.0f} s in "
              f"{system.folder}", flush=True)
        began = time.time()
        publisher = system.publisher()
        stop = threading.Event()

        def progress() -> None:
            while not stop.wait(30):
                rss = ", ".join(f"{n} {k / 1024:.0f} MiB" for n, k in system.rss().items())
                print(f"  {time.time() - began:5.0f} s: stored {system.store.application_events():,}; "
                      f"{rss}", flush=True)

        threading.Thread(target=progress, daemon=True).start()
        try:
            publisher.run(stream(count, "P"), rate)
        finally:
            publisher.close()
        deadline = time.time() + max(300, count / rate)
        while system.store.application_events() < count and time.time() < deadline:
            system.check_alive()
            time.sleep(1)
        while system.projections_behind() != 0 and time.time() < deadline:
            time.sleep(1)
        time.sleep(every + 5)  # one more report, all applied
        stop.set()
        for name in ("consume", "worker"):
            text = (system.folder / f"{name}.probe").read_text()
            reports = text.split("== ")
            print(f"\n##### {name}: first and last reports\n== {reports[1]}\n== {reports[-1]}",
                  flush=True)
            keep = Path(os.environ.get("PROBE_KEEP", "/tmp")) / f"memory_probe_{name}.txt"
            keep.write_text(text)
            print(f"(all reports of {name}: {keep})")


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        child(sys.argv[2], Path(sys.argv[3]), float(sys.argv[4]), float(sys.argv[5]))
    else:
        args = sys.argv[1:]
        parent(int(args[0]) if args else 60_000, float(args[1]) if len(args) > 1 else 1000.0,
               float(args[2]) if len(args) > 2 else 30.0, float(args[3]) if len(args) > 3 else 60.0)
