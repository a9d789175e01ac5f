"""Ingest as deployed: `towns consume`, `towns worker` and `towns serve` running together (real
`.venv/bin/towns` subprocesses, the README's environment, PostgreSQL, towns.inbound a quorum
queue), N messages of whole life cycles queued first and then consumed; beside, on the same
broker in the same run, raw pika consuming and acknowledging the same N message bodies.

    .venv/bin/python bench/ingest_system.py [N] [PAIRS]      # 20000 3

Each pair, in a vhost and a PostgreSQL schema of its own (`bench/system.py`):

1. raw pika: the N bodies published to a durable quorum queue, then consumed and acknowledged
   one by one (prefetch 1000, as `towns consume` sets it for batches of 500), timed from the
   start of the consume to the last ack; then the same on a classic queue, printed for
   information (towns.inbound is a quorum queue by default, so the ratio is taken against the
   quorum figure);
2. the service: `towns worker` and `towns serve` started, the topology declared as the consumer
   declares it, the N messages published to `towns.inbound` and left there, then `towns consume`
   started. The rate runs from the first stored application event to the last, by the record
   times the store keeps in each event (`timestamp`, taken as the consumer decides a batch), so
   the processes' start-up and the polling are left out. The worker builds the four read models
   meanwhile, on the same two cores, as it would in production; how long they take to catch up
   after the last event is printed too.

The machine is shared and noisy: the pairs are measured one right after the other, and the
median of the pairs' ratios is the figure. Target: at least 35 % of raw pika on the quorum queue.

Each pair also says where the cores went (``bench/cpu.py``): CPU per message of raw pika's own
process and of RabbitMQ while it consumed, and of each of the service's processes, PostgreSQL
and RabbitMQ from the first stored event to the last, with how busy the machine was. The last
table sets their sum beside what the machine's cores give each message at 35 % of raw pika.
"""

from __future__ import annotations

import os
import statistics
import sys
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import pika  # noqa: E402

from bench.common import rate, table  # noqa: E402
from bench.cpu import CpuSampler, Usage  # noqa: E402
from bench.stream import stream  # noqa: E402
from bench.system import System  # noqa: E402

PREFETCH = 1000


def raw_consume_rate(url: str, bodies: list[bytes], kind: str) -> tuple[float, tuple[float, float]]:
    """Plain pika on a durable queue of ``kind``: publish the bodies, then consume and ack; the
    rate, and the consume's window in wall-clock time."""
    queue = f"bench.raw.{kind}"
    connection = pika.BlockingConnection(pika.URLParameters(url))
    channel = connection.channel()
    channel.queue_declare(queue, durable=True, arguments={"x-queue-type": kind})
    for body in bodies:
        channel.basic_publish("", queue, body, pika.BasicProperties(delivery_mode=2))
    while channel.queue_declare(queue, passive=True).method.message_count < len(bodies):
        time.sleep(0.05)  # a quorum queue counts a message once its log has it
    channel.basic_qos(prefetch_count=PREFETCH)
    seen = 0
    start, wall = time.perf_counter(), time.time()
    for method, _props, _body in channel.consume(queue, inactivity_timeout=10):
        if method is None:
            break
        channel.basic_ack(method.delivery_tag)
        seen += 1
        if seen == len(bodies):
            break
    seconds = time.perf_counter() - start
    window = (wall, time.time())
    channel.cancel()
    channel.queue_delete(queue)
    connection.close()
    return rate(seen, seconds), window


def _stamp(system: System, order: str) -> datetime:
    row = system.store.one(
        "SELECT convert_from(state, 'UTF8')::jsonb -> 'timestamp' ->> '_data_' FROM towns_events "
        f"WHERE topic LIKE 'towns:Application.%%' ORDER BY notification_id {order} LIMIT 1")
    return datetime.fromisoformat(row[0])


def towns_rate(system: System, n: int, timeout: float = 900) -> tuple[float, float, tuple[float, float]]:
    """Messages per second of the running service, first stored event to last; the seconds
    from the last event until every read model had caught up; and the window of the first
    event to the last in wall-clock time."""
    system.start("worker", "serve")
    system.declare()
    publisher = system.publisher()
    publisher.run(stream(n, "A"))
    publisher.close()
    while system.queue("towns.inbound").get("messages", 0) < n:
        time.sleep(0.05)
    system.start("consume")
    deadline = time.time() + timeout
    system.store.wait_for_application_events(n, deadline, system.check_alive)
    while system.projections_behind() != 0 and time.time() < deadline:
        time.sleep(0.05)
    caught_up = time.time()
    first, last = _stamp(system, "ASC"), _stamp(system, "DESC")
    return (rate(n - 1, (last - first).total_seconds()), caught_up - last.timestamp(),
            (first.timestamp(), last.timestamp()))


@dataclass(frozen=True)
class Pair:
    quorum: float
    classic: float
    ours: float
    catch_up: float
    raw_cpu: Usage  # raw pika's consume of the quorum queue
    towns_cpu: Usage  # the first stored event to the last


def measure_pair(n: int, bodies: list[bytes]) -> Pair:
    with CpuSampler() as cpu, System("ingest") as system:
        quorum, raw_window = raw_consume_rate(system.vhost.service_url, bodies, "quorum")
        classic, _ = raw_consume_rate(system.vhost.service_url, bodies, "classic")
        ours, catch_up, window = towns_rate(system, n)
        return Pair(quorum, classic, ours, catch_up, cpu.usage(*raw_window), cpu.usage(*window))


TOWNS_GROUPS = ("consume", "worker", "serve", "postgres", "rabbitmq")
CORES = os.cpu_count() or 1


def cpu_line(label: str, usage: Usage, count: int, groups: tuple[str, ...]) -> str:
    """CPU per message of each group in a window, their sum, and how busy the machine was."""
    cells = ", ".join(f"{g} {usage.per_item(count, g):.0f}" for g in groups)
    total = sum(usage.per_item(count, g) for g in groups)
    return (f"  {label}: CPU per message, µs: {cells}; together {total:.0f} "
            f"(machine {usage.busy * 100:.0f} % busy over {usage.seconds:.1f} s)")


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 20_000
    pairs_wanted = int(sys.argv[2]) if len(sys.argv) > 2 else 3
    bodies = [m.body for m in stream(n, "A")]
    print(f"{n:,} messages of whole life cycles, {statistics.mean(map(len, bodies)):.0f} bytes on "
          f"average; {pairs_wanted} pairs")
    pairs: list[Pair] = []
    for i in range(pairs_wanted):
        pair = measure_pair(n, bodies)
        pairs.append(pair)
        print(f"pair {i + 1}: raw pika quorum {pair.quorum:,.0f}/s, classic {pair.classic:,.0f}/s; "
              f"towns as deployed {pair.ours:,.0f}/s = {pair.ours / pair.quorum * 100:.1f} % of "
              f"quorum ({pair.ours / pair.classic * 100:.1f} % of classic); read models caught up "
              f"{pair.catch_up:.1f} s after the last event", flush=True)
        print(cpu_line("raw pika", pair.raw_cpu, n, ("bench", "rabbitmq")))
        print(cpu_line("towns", pair.towns_cpu, n - 1, TOWNS_GROUPS), flush=True)
    share = statistics.median(p.ours / p.quorum for p in pairs)
    share_classic = statistics.median(p.ours / p.classic for p in pairs)
    rows = [(f"{n:,}", f"{statistics.median(p.quorum for p in pairs):,.0f}",
             f"{statistics.median(p.classic for p in pairs):,.0f}",
             f"{statistics.median(p.ours for p in pairs):,.0f}",
             f"{share * 100:.1f} %", f"{share_classic * 100:.1f} %",
             f"{statistics.median(p.catch_up for p in pairs):.1f} s")]
    print(f"\nconsume + worker + serve as deployed, messages per second (medians of {len(pairs)} pairs)")
    print(table(rows, ("messages", "raw quorum", "raw classic", "towns", "of raw quorum",
                       "of raw classic", "views caught up")))
    verdict = "met" if share >= 0.35 else "NOT met"
    print(f"target: at least 35 % of raw pika on the same queue type (quorum): {verdict} "
          f"({share * 100:.1f} %)")
    print_budget(pairs, n)


def print_budget(pairs: list[Pair], n: int) -> None:
    """What the machine's cores allow: at the target's rate, all of them give each message
    ``CORES / rate`` of CPU; beside it, what the service's processes took per message."""
    print(f"\nCPU per message as deployed, µs (medians of {len(pairs)} pairs; {CORES} cores)")
    rows = []
    for group in TOWNS_GROUPS:
        rows.append((group, f"{statistics.median(p.towns_cpu.per_item(n - 1, group) for p in pairs):.0f}"))
    used = statistics.median(sum(p.towns_cpu.per_item(n - 1, g) for g in TOWNS_GROUPS) for p in pairs)
    rows.append(("together", f"{used:.0f}"))
    busy = statistics.median(p.towns_cpu.busy for p in pairs)
    rows.append(("machine busy", f"{busy * 100:.0f} %"))
    raw = statistics.median(p.quorum for p in pairs)
    budget = CORES / (0.35 * raw) * 1e6
    rows.append(("all cores at 35 % of raw pika", f"{budget:.0f}"))
    print(table(rows, ("", "µs / message")))


if __name__ == "__main__":
    main()
