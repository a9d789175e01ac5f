"""The PostgreSQL pair of ``scripts/pg_pair.sh`` for the cluster tests, and the service's
processes on it: ``towns consume`` and ``towns worker`` as subprocesses on a RabbitMQ virtual
host of their own, with a configuration whose deadline is far away (no deadline check lapses
the applications of a stream while it is published).

The pair is this test's own: made fresh before it, dropped after it (``pair``), never the
shared server's cluster. It needs root and Debian's PostgreSQL cluster tools; without them the
test is skipped locally and fails with CI=true.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import urllib.request
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg

from adapters.config import SHIPPED_CONFIG
from domain.inbox import InboxMessage
from tests.conftest import service_missing
from tests.factories import envelope
from tests.integration.rabbit import Message, Store, message
from tests.integration.test_amqp_resilience import CITIES, STEPS  # the same life cycles

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "pg_pair.sh"
PRIMARY_URL = "postgresql://postgres@127.0.0.1:5442/towns"
STANDBY_URL = "postgresql://postgres@127.0.0.1:5443/towns"
PAIR_URL = ("postgresql://postgres@127.0.0.1:5442,127.0.0.1:5443/towns"
            "?target_session_attrs=read-write")
APPLIED = InboxMessage.Applied.TOPIC



def pg_pair(*args: str, timeout: float = 300) -> str:
    done = subprocess.run(["bash", str(SCRIPT), *args], capture_output=True, text=True,
                          timeout=timeout)
    if done.returncode != 0:
        raise RuntimeError(f"pg_pair.sh {' '.join(args)}: {done.stderr.strip()}")
    return done.stdout + done.stderr


@contextmanager
def pair(*up: str) -> Iterator[None]:
    """``pg_pair.sh up`` (with ``up``'s flags) on fresh clusters; ``down`` afterwards, whatever
    happened."""
    if os.geteuid() != 0 or shutil.which("pg_createcluster") is None:
        service_missing("a PostgreSQL pair of our own", PermissionError(
            "scripts/pg_pair.sh needs root and Debian's pg_createcluster"))
    pg_pair("down")
    try:
        pg_pair("up", *up)
        yield
    finally:
        pg_pair("down")


def far_deadline_config(folder: Path) -> Path:
    """The shipped configuration with the call's cutoff in 2099."""
    text = SHIPPED_CONFIG.read_text(encoding="utf-8")
    changed = text.replace('cutoff = "2017-03-30T23:59:59+08:00"', 'cutoff = "2099-03-30T23:59:59+08:00"')
    assert changed != text, "the shipped configuration's cutoff moved: update this helper"
    path = folder / "towns.toml"
    path.write_text(changed, encoding="utf-8")
    return path


def life_cycles(prefix: str, apps: int, chunk: int = 50) -> list[Message]:
    """``apps`` whole life cycles (submitted → … → approved), ``chunk`` applications at a time
    step by step, so that each application's messages are spread over the stream."""
    out = []
    for start in range(0, apps, chunk):
        for type_, role in STEPS:
            for i in range(start, min(start + chunk, apps)):
                city, ref = CITIES[i % len(CITIES)], f"{prefix}-{i:04d}"
                track = "industrial" if i % 2 else "application"
                user = "province" if role == "province" else f"{city}-{role}"
                out.append(message(envelope(type_, ref, city, track, message_id=f"{ref}/{type_}"),
                                   user))
    return out


def stored(store: Store) -> Counter:
    """How often each message id has an inbox marker (1 each: stored exactly once)."""
    return Counter(e.message_id for e in store.towns.events_with_topics([APPLIED]))


def count_on(url: str, topic: str = APPLIED) -> int | None:
    """Events of ``topic`` on the server of ``url`` (a standby too), through a connection of its
    own; None when it does not answer."""
    from projections.database_url import conninfo

    try:
        with psycopg.connect(conninfo(url), connect_timeout=2, autocommit=True) as conn:
            return conn.execute("SELECT count(*) FROM towns_events WHERE topic = %s",
                                (topic,)).fetchone()[0]
    except psycopg.Error:
        return None


class Process:
    """A ``towns`` command as a subprocess, its output in a file."""

    def __init__(self, args: list[str], env: dict[str, str], log: Path) -> None:
        self.log_path = log
        with open(log, "ab") as out:
            self.process = subprocess.Popen([sys.executable, "-m", "adapters.cli", *args],
                                            cwd=ROOT, env=env, stdin=subprocess.DEVNULL,
                                            stdout=out, stderr=subprocess.STDOUT)

    def running(self) -> bool:
        return self.process.poll() is None

    def stop(self) -> int | None:
        if self.running():
            self.process.terminate()
            try:
                self.process.wait(60)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
        return self.process.returncode

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


class Service:
    """``towns consume`` and ``towns worker`` on one store and one virtual host."""

    def __init__(self, folder: Path, amqp_url: str, database_url: str, config: Path) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("TOWNS_")}
        env.update(TOWNS_AMQP_URL=amqp_url, TOWNS_DATABASE_URL=database_url,
                   TOWNS_CONFIG=str(config), TOWNS_BATCH_MS="20", PYTHONUNBUFFERED="1")
        self.metrics_port = free_port()
        self.consumer = Process(["consume"], {**env, "TOWNS_METRICS_PORT": str(self.metrics_port)},
                                folder / "consume.log")
        self.worker = Process(["worker", "--tick", "1"], env, folder / "worker.log")

    def running(self) -> bool:
        return self.consumer.running() and self.worker.running()

    def duplicates_seen(self) -> int:
        """Deliveries the consumer found already applied (``towns_ingest_messages_total`` with
        ``outcome="duplicate"``, from its metrics)."""
        url = f"http://127.0.0.1:{self.metrics_port}/metrics"
        with urllib.request.urlopen(url, timeout=10) as answer:
            text = answer.read().decode()
        return int(sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
                       if line.startswith("towns_ingest_messages_total{")
                       and 'outcome="duplicate"' in line))

    def close(self) -> None:
        """Stops both (SIGTERM) and prints their logs, once."""
        if getattr(self, "_closed", False):
            return
        self._closed = True
        for name, process in (("consume", self.consumer), ("worker", self.worker)):
            code = process.stop()
            print(f"--- towns {name} (exit {code}) ---")
            print(process.log()[-20000:])


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(check, timeout: float, what: str, every: float = 0.5):
    """Polls ``check`` until it answers something true, and returns it."""
    from tests.support import eventually

    return eventually(check, timeout, every, what)
