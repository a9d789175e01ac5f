"""The read models at a steady trickle: what a pass of the four views costs when each commit
brings a few messages, as the worker sees it at a steady rate, beside the same messages caught
up in one go (pages of a thousand) in the same run, on PostgreSQL.

    .venv/bin/python bench/trickle.py [MESSAGES] [PER_PASS ...]      # 3000 1 8 64

For each PER_PASS k, MESSAGES whole-life-cycle messages are ingested k at a time (one group
commit each, as the consumer commits a batch), and after each commit every view makes its
passes until it is at the head (``ProjectionRunner.run_once`` until ``at_head``), in the order
the worker takes them. Only the passes are measured: this process's CPU (the runner and the
views), PostgreSQL's (its backends' CPU, read from ``/proc`` around each pass) and the wall
time. The baseline, in the same run on a schema of its own: the same messages ingested in
batches of 500 and then caught up by the same runner at once.

At a steady 400 messages/s the consumer commits every 20 ms (its batch window), about eight
messages a commit: the k = 8 row is the worker's day at that rate.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from adapters.bootstrap import build_runner, build_towns  # noqa: E402
from adapters.config import load_config  # noqa: E402
from adapters.inbound.ingest import ingest_many  # noqa: E402
from bench.common import life_cycles, postgres_url, table  # noqa: E402
from bench.visibility import cpu_seconds  # noqa: E402

WARM = 1200
"""Messages ingested and caught up before the measured ones: the tables and pools warm."""


class PostgresCpu:
    """CPU seconds of the PostgreSQL server's processes found when made (the pools' backends
    are open by then), read from ``/proc`` without a scan of every process."""

    def __init__(self) -> None:
        self.pids = []
        for name in os.listdir("/proc"):
            if name.isdigit() and _command(name).startswith(b"postgres"):
                self.pids.append(name)

    def seconds(self) -> float:
        return sum(cpu_seconds(int(pid)) for pid in self.pids)  # a backend gone counts 0


def _command(pid: str) -> bytes:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read()
    except OSError:
        return b""


def run(messages: int, per_pass: int | None) -> dict[str, float]:
    """Per message: the runner's CPU, PostgreSQL's and the wall time of the passes, in µs;
    ``per_pass`` None: one catch-up after all are stored (the baseline)."""
    config = load_config()
    with postgres_url() as url:
        towns = build_towns(config, url)
        try:
            runner = build_runner(towns, url)
            bodies = [(body, config.principals[p]) for p, body in life_cycles(WARM + messages)]
            for start in range(0, WARM, 400):
                ingest_many(towns, bodies[start:start + 400])
            runner.catch_up_all()
            postgres = PostgresCpu()
            step = per_pass or 500
            own = server = wall = 0.0
            passes = 0
            for start in range(WARM, len(bodies), step):
                ingest_many(towns, bodies[start:start + step])
                if per_pass is None and start + step < len(bodies):
                    continue  # the baseline catches up once, at the end
                server_0 = postgres.seconds()
                own_0, wall_0 = time.process_time(), time.perf_counter()
                for name in runner.projections:
                    while runner.run_once(name) and not runner.at_head(name):
                        pass
                own += time.process_time() - own_0
                wall += time.perf_counter() - wall_0
                server += postgres.seconds() - server_0
                passes += 1
        finally:
            towns.close()
    return {"own": own / messages * 1e6, "server": server / messages * 1e6,
            "wall": wall / messages * 1e6, "passes": passes}


def main() -> None:
    messages = int(sys.argv[1]) if len(sys.argv) > 1 else 3000
    sizes = [int(a) for a in sys.argv[2:]] or [1, 8, 64]
    print(f"the four views, {messages:,} messages after {WARM:,} warm, on PostgreSQL: "
          "per message, µs (this process = the runner and the views)")
    baseline = run(messages, None)
    rows = [("at once (baseline)", f"{baseline['own']:.0f}", f"{baseline['server']:.0f}",
             f"{baseline['wall']:.0f}", "1.0×", "")]
    for k in sizes:
        r = run(messages, k)
        together = (r["own"] + r["server"]) / (baseline["own"] + baseline["server"])
        per_pass = (r["own"] + r["server"]) * messages / r["passes"] / 1000
        rows.append((f"{k} a commit", f"{r['own']:.0f}", f"{r['server']:.0f}", f"{r['wall']:.0f}",
                     f"{together:.1f}×", f"{per_pass:.1f}"))
    print(table(rows, ("", "this process", "postgres", "wall", "CPU vs at once",
                       "CPU ms a pass")))
    print("CPU vs at once: (this process + postgres) per message, over the baseline's.")


if __name__ == "__main__":
    main()
