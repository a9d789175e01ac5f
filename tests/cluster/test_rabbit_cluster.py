"""A three-node RabbitMQ cluster of our own (``scripts/rabbit_cluster.sh``) under a stream of
more than 20,000 messages published by ``towns publish`` at a steady rate, while

(a) the node holding ``towns.inbound``'s leader is killed (kill -9) and started again,
(b) another node is stopped in an orderly way and started again,
(c) the node the consumer is connected to is killed and started again.

``towns consume``, ``towns worker`` and ``towns publish`` are given the three nodes' URLs
(``TOWNS_AMQP_URL``) and reconnect by themselves. Counted afterwards: published and confirmed,
stored (one inbox marker per applied message, each application's whole life cycle once, in
order), dead letters (each refused message recorded once with its code, and on the quorum dead
queue): 0 lost, 0 doubled; the read models equal a rebuild from zero. It prints the counts and,
per failure, the time until ingest went on and the deliveries found already applied.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import time
import urllib.request
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pika
import psycopg
import pytest

from adapters.amqp import topology as t
from adapters.bootstrap import build_runner, build_towns
from adapters.config import load_config
from tests.amqp_fixtures import consumed
from tests.cluster.pg import APPLIED, Process, far_deadline_config, free_port, wait_for
from tests.conftest import POSTGRES_URL, service_missing
from tests.integration.rabbit import Store
from tests.integration.test_amqp_resilience import LIFE, life_cycles
from tests.views import assert_equal_to_rebuild

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "rabbit_cluster.sh"
NODES = {"a": 5681, "b": 5682, "c": 5683}
API_PORTS = {"a": 15681, "b": 15682, "c": 15683}
APPS = 3400  # 20,400 life-cycle messages and 425 refused ones
RATE = 200  # messages per second, as the service runs at a steady load
AWAY = 10.0  # seconds a failed node stays away at least


def cluster(*args: str, timeout: float = 600) -> str:
    result = subprocess.run([str(SCRIPT), *args], capture_output=True, text=True, timeout=timeout)
    if result.returncode != 0:
        raise RuntimeError(f"rabbit_cluster.sh {' '.join(args)}: {result.stderr[-2000:]}")
    return result.stdout


@pytest.fixture(scope="module")
def nodes() -> Iterator[str]:
    """The cluster's URLs (guest, vhost /), the cluster up; down afterwards."""
    if os.geteuid() != 0:
        service_missing("a RabbitMQ cluster of our own", PermissionError("needs root"))
    cluster("down")
    try:
        cluster("up")
        yield cluster("urls").strip()
    finally:
        cluster("down")


@pytest.fixture
def database() -> Iterator[str]:
    name = f"towns_cluster_{uuid.uuid4().hex[:8]}"
    admin = POSTGRES_URL.rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(admin, autocommit=True) as connection:
        connection.execute(f'CREATE DATABASE "{name}"')
    try:
        yield POSTGRES_URL.rsplit("/", 1)[0] + f"/{name}"
    finally:
        with psycopg.connect(admin, autocommit=True) as connection:
            connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def api(path: str, node: str | None = None):
    """The management API of the first node that answers (or of ``node``)."""
    for name in [node] if node else list(API_PORTS):
        request = urllib.request.Request(f"http://127.0.0.1:{API_PORTS[name]}/api{path}")
        request.add_header("Authorization", "Basic Z3Vlc3Q6Z3Vlc3Q=")  # guest:guest
        try:
            with urllib.request.urlopen(request, timeout=5) as answer:
                return json.loads(answer.read())
        except OSError:
            continue
    raise RuntimeError("no node's management API answered")


def node_of(erlang_name: str) -> str:
    return erlang_name.split("@")[0].removeprefix("towns-")


def leader() -> str:
    return node_of(api(f"/queues/%2F/{quote(t.QUEUE, safe='')}")["leader"])


def consumer_node(consumer: Process) -> str | None:
    """The node the consumer consumes on now, from its own log (the management API's list of
    consumers lags behind a reconnection)."""
    found = re.findall(r"consuming towns\.inbound at 127\.0\.0\.1:(\d+)", consumer.log())
    ports = {port: name for name, port in NODES.items()}
    return ports.get(int(found[-1])) if found else None


def applied(database_url: str) -> int:
    with psycopg.connect(database_url, connect_timeout=3) as connection:
        return connection.execute("SELECT count(*) FROM towns_events WHERE topic = %s",
                                  (APPLIED,)).fetchone()[0]


def duplicates(metrics_port: int) -> int:
    with urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/metrics", timeout=10) as answer:
        text = answer.read().decode()
    return int(sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
                   if line.startswith("towns_ingest_messages_total{") and 'outcome="duplicate"' in line))


def batch_file(stream, path: Path) -> Path:
    with path.open("w", encoding="utf-8") as out:
        for m in stream.messages:
            out.write(json.dumps({"principal": m.user_id, "envelope": json.loads(m.body)},
                                 ensure_ascii=False) + "\n")
    return path


def test_a_stream_survives_losing_the_leader_a_node_and_the_consumers_node(nodes, database, tmp_path):
    stream = life_cycles("CL", APPS)
    assert len(stream.messages) >= 20_000
    config = far_deadline_config(tmp_path)
    store = Store(build_towns(load_config(config), database), database)  # the tables first
    env = {k: v for k, v in os.environ.items() if not k.startswith("TOWNS_")}
    env.update(TOWNS_AMQP_URL=nodes, TOWNS_DATABASE_URL=database, TOWNS_CONFIG=str(config),
               TOWNS_RABBITMQ_API=f"http://guest:guest@127.0.0.1:{API_PORTS['a']}",
               TOWNS_BATCH_MS="20", PYTHONUNBUFFERED="1")
    metrics = free_port()
    consumer = Process(["consume"], {**env, "TOWNS_METRICS_PORT": str(metrics)}, tmp_path / "consume.log")
    worker = Process(["worker", "--tick", "1"], env, tmp_path / "worker.log")
    publisher = Process(["publish", str(batch_file(stream, tmp_path / "stream.jsonl")),
                         "--rate", str(RATE)], env, tmp_path / "publish.log")
    failures: list[dict] = []
    try:
        wait_for(lambda: consumer_node(consumer) is not None, 60, "the consumer consuming")

        def fail(what: str, node: str, how: str, at_least: int) -> None:
            wait_for(lambda: applied(database) >= at_least, 300, f"{at_least} messages applied")
            before, seen = applied(database), duplicates(metrics)
            started = time.monotonic()
            cluster(how, node)
            # ingest goes on while the node is still away
            wait_for(lambda: applied(database) >= before + 100, 120, f"ingest going on after {what}")
            resumed = time.monotonic() - started
            time.sleep(max(0.0, AWAY - (time.monotonic() - started)))
            back = time.monotonic()
            cluster("start", node)
            failures.append({"failure": what, "node": node,
                             "100 more stored after s": round(resumed, 1),
                             "node back after s": round(time.monotonic() - back, 1),
                             "already applied, delivered again": duplicates(metrics) - seen})

        # (a) the node of the queue's leader, kill -9
        fail("the leader's node killed (kill -9)", leader(), "kill", 3000)
        # (b) another node, stopped and started again
        others = [n for n in NODES if n not in (leader(), consumer_node(consumer))] or list(NODES)
        fail("a node stopped and restarted", others[0], "stop", 8000)
        # (c) the consumer's node, kill -9
        fail("the consumer's node killed (kill -9)", consumer_node(consumer), "kill", 13000)

        code = publisher.process.wait(600)
        summary = publisher.log().strip().splitlines()[-1]
        assert code == 0, publisher.log()[-3000:]
        total = len(stream.messages)
        assert summary.startswith(f"published {total}: confirmed {total}, returned 0, failed 0"), summary
        wait_for(lambda: applied(database) == len(stream.applied)
                 and len(store.dead_letters()) == len(stream.refused), 300, "every message taken")

        # Then each application's whole life cycle, once, in order
        for ref in stream.refs:
            assert [e.EVENT_TYPE for e in store.history(ref)] == LIFE, ref
        markers = Counter(e.message_id for e in store.towns.events_with_topics(
            [APPLIED]))
        assert set(markers) == stream.applied and set(markers.values()) == {1}  # none lost or doubled
        letters = store.dead_letters()
        assert {k: d.code for k, d in letters.items()} == stream.refused
        assert store.open_parked() == []
        with pika.BlockingConnection(pika.URLParameters(nodes.split(",")[0])) as connection:
            channel = connection.channel()
            on_queue = Counter(p.message_id for _, p, _ in consumed(channel, t.DEAD_QUEUE, auto_ack=True))
            left = channel.queue_declare(t.QUEUE, passive=True).method.message_count
        assert set(on_queue) == set(stream.refused)  # each dead letter on the replicated queue
        assert left == 0
        # And the read models equal a rebuild from zero
        towns = build_towns(load_config(config), database)
        runner = build_runner(towns, database)
        wait_for(lambda: not any(s.lag for s in runner.status()), 300, "the read models caught up")
        worker.stop()
        assert_equal_to_rebuild(runner)
        runner.store.close()
        towns.close()

        print(f"\nRabbitMQ cluster: published {total}, confirmed {total}; stored {len(markers)} "
              f"messages once each ({sum(markers.values())} markers); dead letters "
              f"{len(letters)} recorded, {sum(on_queue.values())} copies on {t.DEAD_QUEUE}; "
              f"lost 0, doubled 0; the consumer delivered {duplicates(metrics)} already applied")
        for failure in failures:
            print("  ", failure)
        assert consumer.running(), "the consumer stopped"
        assert consumer.log().count("consuming towns.inbound at") >= 2  # it moved node
    finally:
        for name, process in (("publish", publisher), ("consume", consumer), ("worker", worker)):
            code = process.stop()
            print(f"--- towns {name} (exit {code}) ---\n{process.log()[-6000:]}")
        store.close()
