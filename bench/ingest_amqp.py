"""20,000 envelopes published to RabbitMQ, then consumed by `towns consume` on PostgreSQL;
beside, in the same run: raw pika consume+ack on the same broker, and the library's
one-save-per-message rate on the same database. Then a steady 200 messages/s stream with the
publish-to-commit latency of each message.

    .venv/bin/python bench/ingest_amqp.py [N] [STEADY_SECONDS] [PAIRS]

The machine is shared and noisy, so raw pika and the consumer are measured in PAIRS (3 by
default), one right after the other; the table gives the medians and the median of the pairs'
ratios, and every pair is printed under it.

Queue types: ``towns consume`` reads ``towns.inbound``, a quorum queue unless
``TOWNS_QUEUE_TYPE`` says classic. Raw pika is measured on a queue of that same type, declared
with the same arguments (``topology.inbound_arguments``), and the share "of raw pika" is taken
against that figure only. Raw pika on the other type (classic, by default) is printed beside it
for information; it is no part of the share.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import pika  # noqa: E402

from adapters.amqp import topology  # noqa: E402
from adapters.bootstrap import build_towns  # noqa: E402
from adapters.config import load_config  # noqa: E402
from bench.common import life_cycles, postgres_url, rate, table  # noqa: E402
from bench.ingest_direct import baseline_rate  # noqa: E402
from bench.rabbit import vhost  # noqa: E402


def publish(url: str, messages: list[tuple[str, bytes]], per_second: float = 0) -> list[float]:
    """Publishes (principal, body) pairs as their principals; returns each publish time."""
    config = load_config()
    connection = pika.BlockingConnection(pika.URLParameters(url))
    channel = connection.channel()
    topology.declare(channel)
    times = []
    start = time.perf_counter()
    for i, (principal, body) in enumerate(messages):
        if per_second:
            delay = start + i / per_second - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
        envelope = json.loads(body)
        times.append(time.time())
        channel.basic_publish(
            topology.EXCHANGE, envelope["type"], body,
            pika.BasicProperties(message_id=envelope["message_id"], delivery_mode=2,
                                 user_id=config.principals[principal].amqp_user,
                                 content_type="application/json"),
        )
    connection.close()
    return times


def raw_consume_rate(url: str, n: int, kind: str) -> float:
    """Plain pika: publish n small persistent messages to a queue of type ``kind`` (quorum or
    classic, with ``towns.inbound``'s arguments for that type), then consume and ack them one
    by one."""
    connection = pika.BlockingConnection(pika.URLParameters(url))
    channel = connection.channel()
    arguments = {k: v for k, v in topology.inbound_arguments(kind).items()
                 if k != "x-dead-letter-exchange"}  # nothing is dead-lettered here
    channel.queue_declare("bench.raw", durable=True, arguments=arguments)
    body = b'{"x": 1}' * 40
    for _ in range(n):
        channel.basic_publish("", "bench.raw", body, pika.BasicProperties(delivery_mode=2))
    channel.basic_qos(prefetch_count=200)
    seen = 0
    start = time.perf_counter()
    for method, _props, _body in channel.consume("bench.raw", inactivity_timeout=5):
        if method is None:
            break
        channel.basic_ack(method.delivery_tag)
        seen += 1
        if seen == n:
            break
    seconds = time.perf_counter() - start
    channel.cancel()
    channel.queue_delete("bench.raw")
    connection.close()
    return rate(seen, seconds)


def start_consumer(amqp: str, db: str) -> subprocess.Popen:
    env = {**os.environ, "TOWNS_AMQP_URL": amqp, "TOWNS_DATABASE_URL": db}
    return subprocess.Popen([sys.executable, "-m", "adapters.cli", "consume"], cwd=ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def wait_for_events(towns, expected: int, timeout: float = 600) -> tuple[int, float]:
    """From the first committed notification until the store holds ``expected``: how many
    notifications that span covered, and its seconds (the consumer's start-up is left out)."""
    deadline = time.perf_counter() + timeout

    def position() -> int:
        if time.perf_counter() > deadline:
            raise TimeoutError(f"only {towns.recorder.max_notification_id()} of {expected}")
        return towns.recorder.max_notification_id() or 0

    while (first := position()) == 0:
        time.sleep(0.005)
    start = time.perf_counter()
    while position() < expected:
        time.sleep(0.02)
    return expected - first, time.perf_counter() - start


def consumer_rate(vh, n: int) -> float:
    with postgres_url() as db:
        towns = build_towns(load_config(), db)
        publish(vh.gateway_url, life_cycles(n, prefix="A"))
        consumer = start_consumer(vh.service_url, db)
        try:
            # each message leaves one event and one inbox marker
            notifications, seconds = wait_for_events(towns, 2 * n)
        finally:
            consumer.terminate()
            consumer.wait(30)
            towns.close()
    return rate(notifications / 2, seconds)


def steady_latency(vh, per_second: int, seconds: int) -> list[float]:
    """Publish-to-commit latency of each message of a steady stream, in milliseconds."""
    n = per_second * seconds
    messages = life_cycles(n, prefix="L")
    with postgres_url() as db:
        towns = build_towns(load_config(), db)
        consumer = start_consumer(vh.service_url, db)
        seen: dict[str, float] = {}
        stop = threading.Event()

        def watch() -> None:
            position = 0
            while not stop.is_set():
                batch = towns.recorder.select_notifications(start=position, limit=1000,
                                                            inclusive_of_start=False)
                now = time.time()
                for note in batch:
                    event = towns.mapper.to_domain_event(note)
                    message_id = getattr(event, "message_id", None)
                    if message_id:
                        seen.setdefault(message_id, now)
                if batch:
                    position = batch[-1].id
                else:
                    time.sleep(0.005)

        try:
            time.sleep(1.5)  # the consumer connects
            watcher = threading.Thread(target=watch, daemon=True)
            watcher.start()
            published = publish(vh.gateway_url, messages, per_second)
            deadline = time.time() + 60
            while len(seen) < n and time.time() < deadline:
                time.sleep(0.1)
        finally:
            stop.set()
            consumer.terminate()
            consumer.wait(30)
            towns.close()
    ids = [json.loads(body)["message_id"] for _, body in messages]
    return [(seen[m] - t) * 1000 for m, t in zip(ids, published) if m in seen]


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))]


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 20_000
    steady_seconds = int(sys.argv[2]) if len(sys.argv) > 2 else 20
    pairs_wanted = int(sys.argv[3]) if len(sys.argv) > 3 else 3
    kind = topology.queue_type()  # what towns consume declares towns.inbound as
    other = topology.CLASSIC if kind == topology.QUORUM else topology.QUORUM
    with vhost() as vh:
        with postgres_url() as db:
            library = baseline_rate(db, min(n, 5000))
        # each pair: raw pika on towns' queue type, then the consumer; raw pika on the other
        # type comes after, for information
        triples = []
        for _ in range(pairs_wanted):
            same = raw_consume_rate(vh.service_url, n, kind)
            ours = consumer_rate(vh, n)
            triples.append((same, ours, raw_consume_rate(vh.service_url, n, other)))
        latencies = steady_latency(vh, 200, steady_seconds) if steady_seconds else []
    pairs = [(r, o) for r, o, _ in triples]
    raw = statistics.median(r for r, _ in pairs)
    raw_other = statistics.median(x for _, _, x in triples)
    ours = statistics.median(o for _, o in pairs)
    share = statistics.median(o / r for r, o in pairs)
    rows = [(n, f"{raw:,.0f}", f"{raw_other:,.0f}", f"{library:,.0f}", f"{ours:,.0f}",
             f"{ours / library:.1f}x", f"{share * 100:.1f} %", f"{ours / raw_other * 100:.1f} %")]
    print(f"towns consume on PostgreSQL, messages per second, same broker and database "
          f"(medians of {len(pairs)} pairs); towns.inbound is a {kind} queue")
    print(table(rows, ("messages", f"raw pika {kind}", f"raw pika {other}",
                       "library 1 save/msg", "towns consume", "vs library",
                       f"of raw pika ({kind})", f"of raw {other}")))
    print(f"pairs (raw pika {kind}, towns consume, share; raw pika {other}): " + "; ".join(
        f"{r:,.0f}, {o:,.0f}, {o / r * 100:.1f} %; {x:,.0f}" for r, o, x in triples))
    print(f"targets: at least 3x the library's one-save-per-message rate, at least 45 % of raw "
          f"pika on the same queue type ({kind})")
    if not steady_seconds:
        return  # no steady stream asked for
    lost = 200 * steady_seconds - len(latencies)
    print(f"\nsteady 200 messages/s for {steady_seconds} s: publish-to-commit latency, ms "
          f"(committed {len(latencies)}, missing {lost})")
    print(table([(f"{statistics.median(latencies):.1f}", f"{percentile(latencies, 95):.1f}",
                  f"{percentile(latencies, 99):.1f}", f"{max(latencies):.1f}")],
                ("p50", "p95", "p99", "max")))
    print("target: p99 under 100 ms")


if __name__ == "__main__":
    main()
