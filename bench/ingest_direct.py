"""N envelopes through the ingest path, no broker, on SQLite and on PostgreSQL, beside the
library's own one-save-per-event rate measured in the same run on the same store.

    .venv/bin/python bench/ingest_direct.py [N] [RUNS]

The baseline saves one event per ``save()`` of a plain eventsourcing application: no parsing,
no rules, no reads. The ingest path also parses and checks the envelope, reads the application,
checks the rules, hash-chains the event and writes an inbox marker in the same transaction. Two
more library figures place it: the bare save with an inbox marker created the library's way
beside each event (what idempotency alone costs), and a library command (get, trigger, save).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from uuid import NAMESPACE_URL, UUID, uuid5

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from eventsourcing.application import Application as Library  # noqa: E402
from eventsourcing.domain import Aggregate  # noqa: E402

from adapters.amqp.consumer import BATCH_SIZE  # noqa: E402
from adapters.bootstrap import build_towns, library_settings  # noqa: E402
from adapters.config import load_config  # noqa: E402
from adapters.inbound.ingest import ingest, ingest_many  # noqa: E402
from domain.hashing import digest  # noqa: E402
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


class Marker(Aggregate):
    """What idempotency needs beside each event, made the library's way: an aggregate keyed by
    the message id, holding the body's digest, saved in the same transaction."""

    TOPIC = "bench:Marker"

    class Created(Aggregate.Created):
        TOPIC = "bench:Marker.Created"
        message_id: str
        digest: str

    def __init__(self, message_id: str, digest: str) -> None:
        self.message_id = message_id
        self.digest = digest

    @classmethod
    def create_id(cls, message_id: str) -> UUID:
        return uuid5(NAMESPACE_URL, f"bench:inbox:{message_id}")


class Baseline(Library):
    name = "Baseline"


def baseline_rate(url: str, n: int, reads: bool = False, marker: bool = False) -> float:
    """The library alone: the same payloads, one event per save(), no rules; with ``reads``,
    each event is a library command (get the aggregate, trigger, save), without, only saves;
    with ``marker``, each save also creates the message's inbox marker (``Marker``)."""
    app = Baseline(env=library_settings(url))
    envelopes = [json.loads(body) for _, body in life_cycles(n)]
    payloads = [e["payload"] for e in envelopes]
    digests = [digest(e) for e in envelopes]
    counters = [Counter() for _ in range(max(1, n // 6))]
    for counter in counters:
        app.save(counter)

    def run() -> int:
        for i, payload in enumerate(payloads):
            counter = counters[i % len(counters)]
            if reads:
                counter = counters[i % len(counters)] = app.repository.get(counter.id)
            counter.trigger_event(Counter.Noted, data=payload)
            if marker:
                app.save(counter, Marker(message_id=envelopes[i]["message_id"], digest=digests[i]))
            else:
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
    def in_fresh_store(fn, *args, **kwargs):
        def once() -> float:
            with factory() as url:
                return fn(url, n, *args, **kwargs)
        return once

    base = best_of(runs, in_fresh_store(baseline_rate))
    marked = best_of(runs, in_fresh_store(baseline_rate, marker=True))
    command = best_of(runs, in_fresh_store(baseline_rate, reads=True))
    single = best_of(runs, in_fresh_store(ingest_rate, 1))
    grouped = best_of(runs, in_fresh_store(ingest_rate, GROUP))
    over = lambda library: f"{(library / single - 1) * 100:+.0f} %"  # noqa: E731
    return (
        store,
        n,
        f"{base:,.0f}",
        f"{marked:,.0f}",
        f"{command:,.0f}",
        f"{single:,.0f}",
        over(base),
        over(marked),
        over(command),
        f"{grouped:,.0f}",
        f"{grouped / base:.1f}x",
    )


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 3000
    runs = int(sys.argv[2]) if len(sys.argv) > 2 else 3
    rows = [measure("sqlite", sqlite_url, n, runs), measure("postgresql", postgres_url, n, runs)]
    print(f"ingest path, no broker: median of {runs} runs each, messages per second")
    headers = ("store", "messages", "lib: save", "lib: save+marker", "lib: get+save", "ingest 1/txn",
               "over save", "over save+marker", "over get+save", f"ingest {GROUP}/txn", "vs lib save")
    print(table(rows, headers))
    print("lib: save = the library saving one event per save(), no reads; lib: save+marker = the same")
    print("save with an inbox marker aggregate created beside the event, as idempotency needs;")
    print("lib: get+save = a library command (repository.get, trigger, save) per event. 'over'")
    print("columns: time per message of the ingest path over the library's, minus one (target < 30 %).")
    print(f"{GROUP}/txn: the same path with group commit, as the RabbitMQ consumer runs it")


if __name__ == "__main__":
    main()
