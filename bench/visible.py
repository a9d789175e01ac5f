"""Publish → visible, as deployed: `towns consume`, `towns worker` and `towns serve` running
together (`bench/system.py`), a steady stream of whole life cycles published to towns.inbound
(200 messages/s by default), and for a sample of the messages the time from its publish until
the read API shows it: its application's version in the summaries list
(`GET /api/v1/applications`, the read model the page's pipeline and applications panels read)
and in `GET /api/v1/applications/{call}/{ref}` (a replay of the store) has reached the
message's. Beside it, in the same run and vhost, raw pika's publish → delivery latency on a
quorum queue at the same rate: the broker's share of the figure.

    .venv/bin/python bench/visible.py [RUNS] [SECONDS] [RATE] [TRACK_EVERY] [POLL_MS]
                                      # 3 30 200 1 10

How visibility is detected (``bench.visibility.Visibility``): every TRACK_EVERY-th message is
tracked (by default every one; the first 2 s of the stream are a warm-up, not tracked). One
poller thread reads, every POLL_MS while tracked messages are outstanding, the stretch of the
summaries list that holds their applications (one page from the keyset cursor just before the
lowest outstanding ref: the stream's refs are neighbours, so one request covers them all, two
where the stream turns to the next step of a block), and a message counts as visible when the
answer that shows its version arrives. The summaries are made from the committed log only, so
what they show is already readable through `GET /api/v1/applications/{call}/{ref}` (a replay
of the store); the poller checks that with one such read per round and counts any that does
not hold ("unreadable", expected 0). The figure is an upper bound: the message became visible
after the last request that did not show it was sent and before the answer that did; the
bracket's median width is printed as the resolution (about the poll interval plus one
request). The poller's load does not grow with the rate (a list request or two and one read
per round; printed as requests per second, with the server's CPU, which the poller is nearly
all of).

Each run starts the three processes afresh on a schema and vhost of their own; the medians of
the runs are printed under the runs. Target: p99 under 100 ms.
"""

from __future__ import annotations

import statistics
import struct
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import pika  # noqa: E402

from bench.common import table  # noqa: E402
from bench.stream import stream  # noqa: E402
from bench.system import System  # noqa: E402
from bench.visibility import Visibility, cpu_seconds, percentile  # noqa: E402

WARM_UP_SECONDS = 2
PROCESSES = ("consume", "worker", "serve")


def cpu_of(pids: dict[str, int]) -> dict[str, float]:
    """CPU seconds so far of each process."""
    return {name: cpu_seconds(pid) for name, pid in pids.items()}


def raw_latency(url: str, per_second: int, seconds: float, body_size: int) -> list[float]:
    """Plain pika on a durable quorum queue: publish at a steady rate (persistent), a consumer
    on another connection acks each; milliseconds from publish to delivery."""
    queue = "bench.raw.latency"
    setup = pika.BlockingConnection(pika.URLParameters(url))
    setup.channel().queue_declare(queue, durable=True, arguments={"x-queue-type": "quorum"})
    n = int(per_second * seconds)
    latencies: list[float] = []
    ready = threading.Event()

    def consume() -> None:
        connection = pika.BlockingConnection(pika.URLParameters(url))
        channel = connection.channel()
        channel.basic_qos(prefetch_count=1000)
        ready.set()
        for method, _props, body in channel.consume(queue, inactivity_timeout=10):
            if method is None:
                break
            latencies.append((time.time() - struct.unpack("d", body[:8])[0]) * 1000)
            channel.basic_ack(method.delivery_tag)
            if len(latencies) == n:
                break
        channel.cancel()
        connection.close()

    consumer = threading.Thread(target=consume, daemon=True)
    consumer.start()
    ready.wait(10)
    channel = setup.channel()
    padding = b"x" * max(0, body_size - 8)
    start = time.perf_counter()
    for i in range(n):
        delay = start + i / per_second - time.perf_counter()
        if delay > 0:
            time.sleep(delay)
        channel.basic_publish("", queue, struct.pack("d", time.time()) + padding,
                              pika.BasicProperties(delivery_mode=2))
    consumer.join(30)
    channel.queue_delete(queue)
    setup.close()
    return latencies


def run_once(seconds: float, per_second: int, every: int, poll: float) -> dict:
    n = int(per_second * (seconds + WARM_UP_SECONDS))
    warm = per_second * WARM_UP_SECONDS
    with System("visible") as system:
        body_size = int(statistics.mean(len(m.body) for m in stream(600, "V")))
        raw = raw_latency(system.vhost.service_url, per_second, min(seconds, 10), body_size)
        system.start("worker", "serve", "consume")
        tracker = Visibility(system, poll).start()
        publisher = system.publisher()
        pids = {name: system.procs[name].pid for name in PROCESSES}
        cpu_before, t_before, requests_before = cpu_of(pids), time.time(), 0
        tracked = 0

        def on_publish(message, sent):
            nonlocal tracked, cpu_before, t_before, requests_before
            if message.index == warm:
                cpu_before, t_before = cpu_of(pids), time.time()
                requests_before = tracker.requests
            if message.index >= warm and (message.index - warm) % every == 0:
                tracker.track(message, sent)
                tracked += 1

        try:
            publisher.run(stream(n, "V"), per_second, on_publish)
            publisher.close()
            tracker.wait(60)
        finally:
            tracker.stop()
        elapsed = time.time() - t_before
        cpu_after = cpu_of(pids)
        cores = {name: (cpu_after[name] - cpu_before[name]) / elapsed for name in PROCESSES}
        request_rate = (tracker.requests - requests_before) / elapsed
        system.check_alive()
    latencies = [ms for _, ms, _ in tracker.results]
    widths = [ms - lower for _, ms, lower in tracker.results]
    return {
        "tracked": tracked, "seen": len(latencies), "errors": tracker.errors,
        "unreadable": tracker.unreadable,
        "p50": statistics.median(latencies), "p95": percentile(latencies, 95),
        "p99": percentile(latencies, 99), "max": max(latencies),
        "resolution": statistics.median(widths), "requests": request_rate, "cores": cores,
        "per_second": per_second,
        "raw_p50": statistics.median(raw), "raw_p99": percentile(raw, 99), "raw_max": max(raw),
    }


def main() -> None:
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 3
    seconds = float(sys.argv[2]) if len(sys.argv) > 2 else 30
    per_second = int(sys.argv[3]) if len(sys.argv) > 3 else 200
    every = int(sys.argv[4]) if len(sys.argv) > 4 else 1
    poll = (float(sys.argv[5]) if len(sys.argv) > 5 else 10) / 1000
    print(f"steady {per_second} messages/s for {seconds:.0f} s (after {WARM_UP_SECONDS} s of warm-up), "
          f"every {every}. message tracked, poll {poll * 1000:.0f} ms; {runs} runs")
    results = []
    for i in range(runs):
        r = run_once(seconds, per_second, every, poll)
        results.append(r)
        print(f"run {i + 1}: publish → visible p50 {r['p50']:.1f}, p95 {r['p95']:.1f}, "
              f"p99 {r['p99']:.1f}, max {r['max']:.1f} ms ({r['seen']} of {r['tracked']} seen, "
              f"{r['errors']} failed requests, {r['unreadable']} unreadable; resolution {r['resolution']:.1f} ms; poller "
              f"{r['requests']:.0f} requests/s; CPU, % of a core: "
              + ", ".join(f"{k} {v * 100:.0f}" for k, v in r["cores"].items()) + "); "
              f"raw pika quorum publish → delivery p50 {r['raw_p50']:.1f}, p99 {r['raw_p99']:.1f}, "
              f"max {r['raw_max']:.1f} ms", flush=True)

    def med(key):
        return statistics.median(r[key] for r in results)

    print(f"\npublish → visible in GET /api/v1/applications/… and the summaries list, ms "
          f"(medians of {len(results)} runs)")
    print(table([("towns as deployed", f"{med('p50'):.1f}", f"{med('p95'):.1f}",
                  f"{med('p99'):.1f}", f"{med('max'):.1f}"),
                 ("raw pika quorum, publish → delivery", f"{med('raw_p50'):.1f}", "",
                  f"{med('raw_p99'):.1f}", f"{med('raw_max'):.1f}")],
                ("", "p50", "p95", "p99", "max")))
    print(f"\nCPU of each process at the steady rate (medians of {len(results)} runs; the server's "
          "is nearly all the poller's)")
    print(table([(name, f"{statistics.median(r['cores'][name] for r in results) * 100:.1f}",
                  f"{statistics.median(r['cores'][name] / r['per_second'] for r in results) * 1e6:.0f}")
                 for name in PROCESSES], ("", "% of a core", "µs / message")))
    verdict = "met" if med("p99") < 100 else "NOT met"
    print(f"target: p99 under 100 ms: {verdict} (median p99 {med('p99'):.1f} ms; runs "
          + ", ".join(f"{r['p99']:.1f}" for r in results) + ")")


if __name__ == "__main__":
    main()
