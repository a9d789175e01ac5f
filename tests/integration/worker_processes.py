"""Fixtures for the workers' integration tests: a RabbitMQ virtual host per test (created and
deleted with ``rabbitmqctl``, as ``tests/amqp_fixtures.py`` does), ``towns worker`` processes
started as in production, and stores read back through a projection runner.

Locally a missing RabbitMQ or PostgreSQL skips these tests; with CI=true it fails them.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from adapters.bootstrap import build_towns
from adapters.config import Config
from adapters.bootstrap import build_runner
from projections.database_url import PostgresUrl
from projections.runner import ProjectionRunner
from tests import support
from tests.amqp_fixtures import amqp_url, rabbitmq, rabbitmqctl  # noqa: F401 - fixture
from workers.deadlines import DeadlineSchedule

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def vhost(rabbitmq: str) -> Iterator[str]:  # noqa: F811 - the fixture imported above
    """A fresh virtual host for this test; its URL as guest."""
    name = f"towns-workers-{uuid.uuid4().hex[:10]}"
    rabbitmqctl("add_vhost", name)
    try:
        rabbitmqctl("set_permissions", "-p", name, "guest", ".*", ".*", ".*")
        yield amqp_url("guest", "guest", name)
    finally:
        rabbitmqctl("delete_vhost", name, check=False)


def eventually(check, timeout: float = 60, every: float = 0.1, what: str = ""):
    """Polls until true (``tests.support.eventually``), with this module's patience."""
    return support.eventually(check, timeout, every, what)


class WorkerProcess:
    """``towns worker`` as a subprocess; its log (stderr) in a file."""

    def __init__(self, env: dict[str, str], log: Path, tick: float) -> None:
        self.log_path = log
        self._log = log.open("wb")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "adapters.cli", "worker", "--tick", str(tick), "--threads", "4"],
            cwd=ROOT, env=env, stdout=self._log, stderr=subprocess.STDOUT,
        )

    def kill(self) -> None:
        """kill -9: no cleanup of any kind."""
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)
        self._log.close()

    def stop(self, timeout: float = 60) -> int:
        """SIGTERM; the exit code."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        code = self.process.wait(timeout=timeout)
        self._log.close()
        return code

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


class Workers:
    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.started: list[WorkerProcess] = []

    def start(self, amqp: str, database_url: str, tick: float = 1.0) -> WorkerProcess:
        env = {**os.environ, "TOWNS_AMQP_URL": amqp, "TOWNS_DATABASE_URL": database_url}
        env.pop("TOWNS_CONFIG", None)
        worker = WorkerProcess(env, self.folder / f"worker-{len(self.started)}.log", tick)
        self.started.append(worker)
        return worker

    def close(self) -> None:
        for worker in self.started:
            if worker.process.poll() is None:
                worker.process.kill()
                worker.process.wait(timeout=10)


@pytest.fixture
def workers(tmp_path) -> Iterator[Workers]:
    started = Workers(tmp_path)
    yield started
    started.close()


class Views:
    """A store's log and views, read back."""

    def __init__(self, config: Config, url: str) -> None:
        self.url = url
        self.towns = build_towns(config, url)
        self.runner: ProjectionRunner = build_runner(self.towns, url)
        self.store = self.runner.store
        self.schedule = DeadlineSchedule(self.store, send=lambda *_: None)  # for reading
        self.schedule.setup()

    def caught_up(self) -> bool:
        """Every projection at the head of the log."""
        return all(s.lag == 0 and s.head > 0 for s in self.runner.status())

    def positions(self) -> dict[str, tuple[int, int]]:
        return {s.name: (s.position, s.head) for s in self.runner.status()}

    def close(self) -> None:
        self.store.close()
        self.towns.close()


@pytest.fixture
def schemas(postgres_url: str) -> Iterator[Callable[[], str]]:
    """Makes fresh PostgreSQL schemas (database URLs), dropped afterwards."""
    import psycopg

    made: list[str] = []
    target = PostgresUrl.parse(postgres_url)
    base = target.conninfo()

    def make() -> str:
        schema = f"w_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(base, autocommit=True) as conn:
            conn.execute(f"CREATE SCHEMA {schema}")
        made.append(schema)
        return target.with_schema(schema).url()

    yield make
    with psycopg.connect(base, autocommit=True) as conn:
        for schema in made:
            conn.execute(f"DROP SCHEMA {schema} CASCADE")
