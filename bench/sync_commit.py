"""What synchronous replication costs ingest: the same messages through the ingest path on the
primary of ``scripts/pg_pair.sh`` with its standby synchronous (a commit waits until the standby
has it), asynchronous (the standby streams, no commit waits for it) and with no standby at all.

    .venv/bin/python bench/sync_commit.py [N] [ROUNDS]      (as root: it runs scripts/pg_pair.sh)

Each round measures the three modes one after the other, in an order that alternates from round
to round (so that a drift of the shared machine weighs on each mode alike), each in a fresh
schema, at three sizes of transaction: group commit of ``GROUP`` messages (the consumer's
batches under load), of ``SMALL`` (its batches when messages trickle in, 20 ms at a time), and
one message per transaction (where the wait for the standby weighs most: one wait per message).
The figures are the medians over the rounds, with their range. The pair is made if missing and
dropped at the end.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.common import table  # noqa: E402
from bench.ingest_direct import GROUP, ingest_rate  # noqa: E402
from tests.support import fresh_schema  # noqa: E402

PRIMARY_URL = "postgresql://postgres@127.0.0.1:5442/towns"
MODES = {"sync": [], "async": ["--async"], "single": ["--single"]}
SMALL = 50
GROUPS = (GROUP, SMALL, 1)
"""pg_pair.sh up's flags per mode: synchronous standby, asynchronous standby, no standby."""


def pair(*args: str) -> None:
    subprocess.run(["bash", str(ROOT / "scripts" / "pg_pair.sh"), *args], check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=300)


def replication(mode: str) -> str:
    """What the primary says of its standby: sync, async, or none."""
    import psycopg

    with psycopg.connect("host=127.0.0.1 port=5442 dbname=towns user=postgres") as conn:
        row = conn.execute("SELECT sync_state FROM pg_stat_replication").fetchone()
    found = row[0] if row else "none"
    expected = {"sync": "sync", "async": "async", "single": "none"}[mode]
    assert found == expected, f"{mode}: the primary's standby is {found}, not {expected}"
    return found


def measure(mode: str, n: int) -> tuple[float, ...]:
    """The rate at each of ``GROUPS`` in ``mode``, each in a fresh schema."""
    pair("up", *MODES[mode])
    replication(mode)
    rates = []
    for group in GROUPS:
        with fresh_schema(PRIMARY_URL, prefix="bench_sync") as url:
            rates.append(ingest_rate(url, n, group))
    return tuple(rates)


def cell(rates: list[float], single: float) -> str:
    """The median, its change against no standby, and the range."""
    middle = statistics.median(rates)
    return f"{middle:,.0f} ({middle / single - 1:+.0%}; {min(rates):,.0f}-{max(rates):,.0f})"


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 3000
    rounds = int(sys.argv[2]) if len(sys.argv) > 2 else 3
    found: dict[str, list[tuple[float, ...]]] = {mode: [] for mode in MODES}
    order = list(MODES)
    try:
        for i in range(rounds):
            for mode in order if i % 2 == 0 else reversed(order):
                found[mode].append(measure(mode, n))
                figures = ", ".join(f"{r:,.0f} at {g}/txn" for r, g in zip(found[mode][-1], GROUPS))
                print(f"round {i + 1}: {mode:<6} {figures} (msg/s)", flush=True)
    finally:
        pair("down")
    single = [statistics.median(r[k] for r in found["single"]) for k in range(len(GROUPS))]
    rows = [(mode, n, *(cell([r[k] for r in runs], single[k]) for k in range(len(GROUPS))))
            for mode, runs in found.items()]
    print(f"\ningest path on the primary of scripts/pg_pair.sh, medians of {rounds} rounds "
          f"(modes alternated), messages per second, {time.strftime('%Y-%m-%d')} "
          f"({datetime.now(timezone.utc):%H:%M} UTC)")
    print(table(rows, ("standby", "messages", *(f"{g}/txn (vs none; range)" for g in GROUPS))))
    print("sync: synchronous_commit = on, synchronous_standby_names = the standby (a commit")
    print("returns once the standby has flushed it); async: the standby streams, nothing waits")
    print("for it; none: the standby stopped.")


if __name__ == "__main__":
    main()
