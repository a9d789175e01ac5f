"""Catch-up of every projection over a generated log of at least a million events (100,000
applications), beside the raw ``select_notifications`` + decode rate in the same run; the
deadline check over 100,000 open applications; and ``replay`` of a 20-event application.

    .venv/bin/python bench/projections.py [APPLICATIONS]

The generated log is kept in the PostgreSQL schema ``bench_log_<APPLICATIONS>`` and reused by
the next run (delete the schema to regenerate); the read models are rebuilt every run.
"""

from __future__ import annotations

import statistics
import sys
import time
from datetime import datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import psycopg  # noqa: E402

from adapters.bootstrap import build_towns  # noqa: E402
from adapters.config import load_config  # noqa: E402
from bench.common import POSTGRES_URL, rate, table  # noqa: E402
from bench.generate import CUTOFF, generate, twenty_event_application  # noqa: E402
from projections.applications import deadline_candidates  # noqa: E402
from projections.database_url import PostgresUrl  # noqa: E402
from projections.registry import projections  # noqa: E402
from projections.runner import ProjectionRunner  # noqa: E402
from projections.store import ViewStore  # noqa: E402
from tests.factories import CALL  # noqa: E402

PAGE = 1000


def log_url(applications: int) -> str:
    target = PostgresUrl.parse(POSTGRES_URL)
    schema = f"bench_log_{applications}"
    with psycopg.connect(target.conninfo(), autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA IF NOT EXISTS {schema}")
    return target.with_schema(schema).url()


def ensure_log(towns, applications: int) -> int:
    head = towns.recorder.max_notification_id() or 0
    if head >= applications * 10 + 20:
        analyse(towns)
        return head
    if head:
        raise SystemExit(f"schema holds a partial log ({head} events): drop it and run again")
    start = time.perf_counter()
    events = generate(towns, applications)
    twenty_event_application(towns)
    print(f"generated {events + 20:,} events in {time.perf_counter() - start:.0f} s")
    analyse(towns)
    return towns.recorder.max_notification_id()


def analyse(towns) -> None:
    """Gives the generated log's table the planner statistics a server running autovacuum
    would have (this one may run without it): without them PostgreSQL takes a read of a few
    thousand rows for a read of most of the table, and compiles it (JIT) for each query."""
    table = f"{towns.recorder.datastore.schema}.{towns.recorder.events_table_name}"
    with psycopg.connect(PostgresUrl.parse(POSTGRES_URL).conninfo(), autocommit=True) as conn:
        row = conn.execute("SELECT last_analyze IS NULL AND last_autoanalyze IS NULL "
                           "FROM pg_stat_user_tables WHERE relid = %s::regclass",
                           (table,)).fetchone()
        if row is None or row[0]:
            conn.execute(f"ANALYZE {table}")


def raw_rate(towns) -> tuple[int, float]:
    """The floor every projection stands on: read the whole log and decode every event."""
    start, position, count = time.perf_counter(), 0, 0
    decode = towns.mapper.to_domain_event
    while notes := towns.recorder.select_notifications(start=position, limit=PAGE,
                                                       inclusive_of_start=False):
        for note in notes:
            decode(note)
        count += len(notes)
        position = notes[-1].id
    return count, time.perf_counter() - start


def reset_views(store: ViewStore, runner: ProjectionRunner) -> None:
    with store.transaction() as tx:
        for projection in runner.projections.values():
            projection.drop(tx, projection.live_names())
        tx.execute("DROP TABLE IF EXISTS projection_positions")
    runner.setup()


def catch_up(runner: ProjectionRunner, name: str) -> tuple[int, float]:
    start = time.perf_counter()
    count = runner.catch_up(name)
    return count, time.perf_counter() - start


def deadline_check(towns, store: ViewStore) -> tuple[int, int, float]:
    start = time.perf_counter()
    with store.transaction() as tx:
        candidates = deadline_candidates(tx, CALL, CUTOFF)
    run = towns.check_deadline(CALL, datetime.fromisoformat("2017-04-01T00:00:00+08:00"),
                               candidates)
    with store.transaction() as tx:
        open_apps = tx.one("SELECT count(*) FROM deadline_report WHERE call_id = ?", (CALL,))[0]
    return open_apps, len(run.lapsed), time.perf_counter() - start


def forget_after(towns, url: str, head: int) -> None:
    """Removes what the deadline check appended to the benchmark's own generated log."""
    target = PostgresUrl.parse(url)
    schema = target.schema
    table = towns.recorder.events_table_name
    with psycopg.connect(target.conninfo(), autocommit=True) as conn:
        conn.execute(f"DELETE FROM {schema}.{table} WHERE notification_id > %s", (head,))


def settle(url: str) -> None:
    """Has PostgreSQL write out now what the catch-ups and the check left it to write (a
    checkpoint spreads millions of rows' pages over minutes): replay is one short read, and
    timed while the server flushes that backlog its round trip's tail is the backlog's."""
    with psycopg.connect(PostgresUrl.parse(url).conninfo(), autocommit=True) as conn:
        conn.execute("CHECKPOINT")


def replay_p95(towns, runs: int = 300, warm: int = 20) -> tuple[float, float, float, float]:
    """p50 and p95 of a replay's wall time, then of its CPU time in this process. The first
    ``warm`` replays are not timed: each of the pool's connections prepares the statement at
    its first use, once in a process's life."""
    times, cpus = [], []
    as_of = datetime.fromisoformat("2017-03-04T12:00:00+08:00")
    for i in range(warm + runs):
        start, cpu = time.perf_counter(), time.thread_time()
        towns.replay(CALL, "G-TWENTY", as_of=as_of)
        if i >= warm:
            cpus.append((time.thread_time() - cpu) * 1000)
            times.append((time.perf_counter() - start) * 1000)
    times.sort()
    cpus.sort()
    p95 = int(0.95 * runs)
    return statistics.median(times), times[p95], statistics.median(cpus), cpus[p95]


def main() -> None:
    applications = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
    url = log_url(applications)
    towns = build_towns(load_config(), url)
    store = ViewStore(url)
    runner = ProjectionRunner(towns, store, projections())
    head = ensure_log(towns, applications)
    print(f"log: {head:,} notifications in {url.split('?')[1]}")
    reset_views(store, runner)
    raw_count, raw_seconds = raw_rate(towns)
    raw = rate(raw_count, raw_seconds)
    rows = [("raw select_notifications + decode", f"{raw_count:,}", f"{raw_seconds:.1f}",
             f"{raw:,.0f}", "100 %")]
    for name in runner.projections:
        count, seconds = catch_up(runner, name)
        rows.append((name, f"{count:,}", f"{seconds:.1f}", f"{rate(count, seconds):,.0f}",
                     f"{rate(count, seconds) / raw * 100:.0f} %"))
    print("\ncatch-up from zero, PostgreSQL (target: each at least 75 % of the raw rate)")
    print(table(rows, ("reader", "events", "seconds", "events/s", "of raw")))
    open_apps, lapsed, seconds = deadline_check(towns, store)
    forget_after(towns, url, head)  # the generated log stays as it was, for the next run
    print(f"\ndeadline check over {open_apps:,} applications of the call: {lapsed:,} lapsed "
          f"in {seconds:.1f} s (target under 5 s)")
    settle(url)
    p50, p95, cpu50, cpu95 = replay_p95(towns)
    print(f"replay of a 20-event application as of a date: p50 {p50:.2f} ms, p95 {p95:.2f} ms "
          f"(target p95 under 1 ms); its CPU here p50 {cpu50:.2f} ms, p95 {cpu95:.2f} ms")


if __name__ == "__main__":
    main()
