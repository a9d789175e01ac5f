"""N envelopes through the ingest path, no broker, on SQLite and on PostgreSQL, beside the
library's own one-save-per-event rate measured in the same run on the same store.

    .venv/bin/python bench/ingest_direct.py [N] [RUNS]

The baseline saves one event per ``save()`` of a plain eventsourcing application: no parsing,
no rules, no reads. The ingest path also parses and checks the envelope, reads the application,
checks the rules, hash-chains the event and writes an inbox marker in the same transaction.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from eventsourcing.application import Application as Library  # noqa: E402
from eventsourcing.domain import Aggregate  # noqa: E402

from adapters.amqp.consumer import BATCH_SIZE  # noqa: E402
from adapters.bootstrap import build_towns, library_settings  # noqa: E402
from adapters.config import load_config  # noqa: E402
from adapters.ingest import ingest, ingest_many  # noqa: E402
from bench.common import best_of, life_cycles, postgres_url, rate, sqlite_url, table, timed  # noqa: E402


class Counter(Aggregate):
    TOPIC = "bench:Counter"

    class Event(Aggregate.Event):
        TOPIC = "bench:Counter.Event"

    class Created(Event, Aggregate.Created):
        TOPIC = "bench:Counter.Created"

    class Noted(Event):
        TOPIC = "bench:Counter.Noted"
        data: dict

    def __init__(self) -> None:
        pass


class Baseline(Library):
    name = "Baseline"


def baseline_rate(url: str, n: int, reads: bool = False) -> float:
    """The library alone: the same payloads, one event per save(), no rules; with ``reads``,
    each event is a library command (get the aggregate, trigger, save), without, only saves."""
    app = Baseline(env=library_settings(url))
    payloads = [json.loads(body)["payload"] for _, body in life_cycles(n)]
    counters = [Counter() for _ in range(max(1, n // 6))]
    for counter in counters:
        app.save(counter)

    def run() -> int:
        for i, payload in enumerate(payloads):
            counter = counters[i % len(counters)]
            if reads:
                counter = counters[i % len(counters)] = app.repository.get(counter.id)
            counter.trigger_event(Counter.Noted, data=payload)
            app.save(counter)
        return n

    count, seconds = timed(run)
    app.close()
    return rate(count, seconds)


def ingest_rate(url: str, n: int, group: int = 1) -> float:
    """Our path: one transaction per message, or ``group`` messages per transaction."""
    config = load_config()
    towns = build_towns(config, url)
    messages = [(body, config.principals[p]) for p, body in life_cycles(n)]

    def run() -> int:
        if group == 1:
            for body, principal in messages:
                ingest(towns, body, principal)
        else:
            for start in range(0, len(messages), group):
                results = ingest_many(towns, messages[start : start + group])
                assert not any(isinstance(r, Exception) for r in results), results
        return len(messages)

    count, seconds = timed(run)
    towns.close()
    return rate(count, seconds)


GROUP = BATCH_SIZE
"""Messages per transaction with group commit: the RabbitMQ consumer's default."""


def measure(store: str, factory, n: int, runs: int) -> tuple:
    def in_fresh_store(fn, *args):
        def once() -> float:
            with factory() as url:
                return fn(url, n, *args)
        return once

    base = best_of(runs, in_fresh_store(baseline_rate))
    command = best_of(runs, in_fresh_store(baseline_rate, True))
    single = best_of(runs, in_fresh_store(ingest_rate, 1))
    grouped = best_of(runs, in_fresh_store(ingest_rate, GROUP))
    return (
        store,
        n,
        f"{base:,.0f}",
        f"{command:,.0f}",
        f"{single:,.0f}",
        f"{(base / single - 1) * 100:+.0f} %",
        f"{(command / single - 1) * 100:+.0f} %",
        f"{grouped:,.0f}",
        f"{grouped / base:.1f}x",
    )


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 3000
    runs = int(sys.argv[2]) if len(sys.argv) > 2 else 3
    rows = [measure("sqlite", sqlite_url, n, runs), measure("postgresql", postgres_url, n, runs)]
    print(f"ingest path, no broker: median of {runs} runs each, messages per second")
    headers = ("store", "messages", "lib: save", "lib: get+save", "ingest 1/txn",
               "over save", "over get+save", f"ingest {GROUP}/txn", "vs lib save")
    print(table(rows, headers))
    print("lib: save = the library saving one event per save(), no reads; lib: get+save = a library")
    print("command (repository.get, trigger, save) per event. 'over' columns: time per message of")
    print("the ingest path over the library's, minus one (target < 30 %).")
    print(f"{GROUP}/txn: the same path with group commit, as the RabbitMQ consumer runs it")


if __name__ == "__main__":
    main()
