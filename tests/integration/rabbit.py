"""The real RabbitMQ and PostgreSQL for the consumer's integration tests.

Each test module gets a virtual host of its own (``rabbitmqctl add_vhost``), deleted at teardown,
with permissions for ``guest`` (the consumer, as the service) and for a gateway user tagged
``impersonator``, so that tests can publish with the ``user_id`` of any principal, as each
upstream system would with its own user. ``towns consume`` runs as a subprocess, as in
production. Locally a missing broker skips these tests; with CI=true it fails them.

Import the fixtures into a test module: ``from tests.integration.rabbit import rabbit, ...``.
"""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pika
import pytest

from adapters.amqp import topology as t
from adapters.bootstrap import build_towns
from adapters.store.inbound_records import InboundRecords
from domain.applications import application_id
from domain.inbox import inbox_id
from domain.service import Towns
from projections.database_url import conninfo
from tests import support
from tests.amqp_fixtures import consumed
from tests.conftest import service_missing
from tests.factories import CALL, encode

ROOT = Path(__file__).resolve().parents[2]
HOST, PORT = "127.0.0.1", 5672
STATS_LAG = 6.0
"""Seconds until a quorum queue's counts, as ``rabbitmqctl`` shows them, are current."""


def rabbitmqctl(*args: str, timeout: float = 60) -> str:
    result = subprocess.run(
        ["rabbitmqctl", "-q", *args], capture_output=True, text=True, timeout=timeout
    )
    if result.returncode != 0:
        raise RuntimeError(f"rabbitmqctl {' '.join(args)}: {result.stderr.strip()}")
    return result.stdout


def eventually(check, timeout: float = 30, every: float = 0.2, what: str = ""):
    """Polls until true (``tests.support.eventually``), with this module's patience."""
    return support.eventually(check, timeout, every, what)

@dataclass(frozen=True)
class Received:
    """A message taken off a queue, as the tests inspect it."""

    body: bytes
    message_id: str | None
    routing_key: str
    headers: dict
    user_id: str | None
    properties: Any = None  # pika's BasicProperties


@dataclass
class Rabbit:
    """A virtual host with the service's topology; publishes as any principal."""

    vhost: str
    gateway: str
    gateway_password: str

    @property
    def url(self) -> str:
        """The consumer's URL: the service's own user."""
        return f"amqp://guest:guest@{HOST}:{PORT}/{quote(self.vhost, safe='')}"

    def _connect(self, user: str = "guest", password: str = "guest") -> pika.BlockingConnection:
        credentials = pika.PlainCredentials(user, password)
        return pika.BlockingConnection(
            pika.ConnectionParameters(HOST, PORT, self.vhost, credentials, connection_attempts=3)
        )

    def declare(self) -> None:
        with self._connect() as connection:
            t.declare(connection.channel())

    def publish(self, *messages: Message) -> None:
        self.publish_all(messages)

    def publish_all(self, messages: Iterable[Message]) -> None:
        """Publishes through the gateway with publisher confirms, in the order given (many at a
        time through ``towns publish``'s publisher when they carry no headers of their own: a
        quorum queue confirms each message after a disk write)."""
        messages = list(messages)
        if len(messages) > 50 and not any(m.headers or m.properties for m in messages):
            from adapters.amqp.outgoing import Outgoing
            from adapters.amqp.publishing import publish

            gateway = (f"amqp://{quote(self.gateway, safe='')}:{quote(self.gateway_password, safe='')}"
                       f"@{HOST}:{PORT}/{quote(self.vhost, safe='')}")
            report = publish(gateway, [Outgoing(m.body, m.routing_key, m.message_id, m.user_id)
                                       for m in messages])
            assert report.ok, report
            return
        with self._connect(self.gateway, self.gateway_password) as connection:
            channel = connection.channel()
            channel.confirm_delivery()
            for m in messages:
                channel.basic_publish(
                    t.EXCHANGE,
                    m.routing_key,
                    m.body,
                    pika.BasicProperties(**{
                        "message_id": m.message_id,
                        "user_id": m.user_id,
                        "headers": m.headers or None,
                        "content_type": "application/json",
                        "delivery_mode": 2,
                        **m.properties,
                    }),
                    mandatory=True,
                )

    def depth(self, queue: str = t.QUEUE) -> int:
        """Messages ready on the queue (unacknowledged ones not counted)."""
        with self._connect() as connection:
            return connection.channel().queue_declare(queue, passive=True).method.message_count

    def settled(self, queue: str = t.QUEUE, patience: float = 30.0) -> int:
        """``outstanding`` as it stands now: 0 only from a reading taken ``STATS_LAG`` after
        the call (a quorum queue's figures reach ``rabbitmqctl`` on its tick, every 5 s), else
        what it reads after ``patience`` seconds."""
        start = time.monotonic()
        while True:
            count = self.outstanding(queue)
            waited = time.monotonic() - start
            if (count == 0 and waited >= STATS_LAG) or (count and waited >= patience):
                return count
            time.sleep(0.3)

    def outstanding(self, queue: str = t.QUEUE) -> int:
        """Ready plus unacknowledged messages, as the broker counts them (a quorum queue's a
        moment late: ``settled``)."""
        out = rabbitmqctl("list_queues", "-p", self.vhost, "--no-table-headers", "name", "messages")
        for line in out.splitlines():
            name, _, count = line.strip().rpartition("\t")
            if name == queue:
                return int(count)
        raise LookupError(queue)

    def take_all(self, queue: str = t.DEAD_QUEUE) -> list[Received]:
        """Drains a queue and answers what it held, in queue order."""
        taken: list[Received] = []
        with self._connect() as connection:
            channel = connection.channel()
            for method, properties, body in consumed(channel, queue, auto_ack=True):
                taken.append(
                    Received(body, properties.message_id, method.routing_key,
                             dict(properties.headers or {}), properties.user_id, properties)
                )
            return taken

    def purge(self) -> None:
        with self._connect() as connection:
            channel = connection.channel()
            channel.queue_purge(t.QUEUE)
            channel.queue_purge(t.DEAD_QUEUE)

    def requeue_as_redelivered(self, count: int) -> None:
        """Takes ``count`` messages off the inbound queue without acknowledging them and closes
        the channel, so that the broker delivers them again with ``redelivered`` set, as after a
        consumer that died between its commit and its ack."""
        for _ in range(2):  # the second pass checks the broker marked them redelivered
            with self._connect() as connection:
                channel = connection.channel()
                taken = [method for method, _, _ in consumed(channel, t.QUEUE, limit=count)]
                assert len(taken) == count, "fewer messages on the queue than expected"
        assert all(method.redelivered for method in taken)

    def delete_dead_exchange(self) -> None:
        with self._connect() as connection:
            connection.channel().exchange_delete(t.DEAD_EXCHANGE)


@dataclass(frozen=True)
class Message:
    body: bytes
    user_id: str | None
    routing_key: str
    message_id: str | None
    headers: dict = field(default_factory=dict)
    properties: dict = field(default_factory=dict)  # other AMQP properties than the above


def message(envelope: dict | bytes, user_id: str | None, routing_key: str | None = None,
            message_id: str | None = None, **headers: Any) -> Message:
    """A message as an upstream system publishes it: routing key = type, message_id = the
    envelope's; ``user_id`` is the principal's AMQP user (None: the property is left out)."""
    if isinstance(envelope, bytes):
        body, value = envelope, {}
    else:
        body, value = encode(envelope), envelope
    key = routing_key if routing_key is not None else str(value.get("type", "unknown"))
    mid = message_id if message_id is not None else value.get("message_id")
    return Message(body, user_id, key, mid, dict(headers))


@pytest.fixture(scope="module")
def rabbit() -> Iterator[Rabbit]:
    """A fresh virtual host with the topology declared, deleted afterwards."""
    if shutil.which("rabbitmqctl") is None:
        service_missing("RabbitMQ", FileNotFoundError("rabbitmqctl is not installed"))
    try:
        pika.BlockingConnection(pika.ConnectionParameters(HOST, PORT, "/", pika.PlainCredentials(
            "guest", "guest"), socket_timeout=3)).close()
    except pika.exceptions.AMQPError as error:
        service_missing("RabbitMQ", error)
    with own_vhost("towns-it") as broker:
        yield broker


@contextmanager
def own_vhost(prefix: str) -> Iterator[Rabbit]:
    """A virtual host of its own with the topology declared, and a gateway user tagged
    impersonator (publishes as any principal), both deleted afterwards."""
    suffix = secrets.token_hex(4)
    vhost, gateway, password = f"{prefix}-{suffix}", f"{prefix}-gw-{suffix}", secrets.token_hex(12)
    made: list[tuple[str, str]] = []
    try:
        rabbitmqctl("add_vhost", vhost)
        made.append(("delete_vhost", vhost))
        rabbitmqctl("add_user", gateway, password)
        made.append(("delete_user", gateway))
        rabbitmqctl("set_user_tags", gateway, "impersonator")
        for user in ("guest", gateway):
            rabbitmqctl("set_permissions", "-p", vhost, user, ".*", ".*", ".*")
        broker = Rabbit(vhost, gateway, password)
        broker.declare()
        yield broker
    finally:
        for command, name in reversed(made):
            rabbitmqctl(command, name)


# -- the consumer as a process ------------------------------------------------------------------


class ConsumerProcess:
    """``python -m adapters.cli consume``, its log kept in a file (shown when a test fails)."""

    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.log_path = log
        with open(log, "ab") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "adapters.cli", "consume"],
                cwd=ROOT, env=env, stdin=subprocess.DEVNULL, stdout=out, stderr=out,
            )

    @property
    def pid(self) -> int:
        return self.process.pid

    def running(self) -> bool:
        return self.process.poll() is None

    def kill(self) -> None:
        """kill -9: no batch finished, nothing acknowledged or closed cleanly."""
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(10)

    def stop(self) -> int:
        """SIGTERM: finishes the batch in hand and exits."""
        if self.running():
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
        return self.process.returncode

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


class Consumers:
    """Starts ``towns consume`` processes; ``close`` stops those still running and prints their
    logs (pytest shows captured output only for a failed test)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.started: list[ConsumerProcess] = []

    def start(self, amqp_url: str, database_url: str, **env: str | int | float) -> ConsumerProcess:
        environment = {k: v for k, v in os.environ.items() if not k.startswith("TOWNS_")}
        environment.update(
            TOWNS_AMQP_URL=amqp_url,
            TOWNS_DATABASE_URL=database_url,
            TOWNS_BATCH_MS="20",
            PYTHONUNBUFFERED="1",
        )
        environment.update({k: str(v) for k, v in env.items()})
        process = ConsumerProcess(environment, self.folder / f"consumer-{len(self.started)}.log")
        self.started.append(process)
        return process

    def close(self) -> None:
        for process in self.started:
            process.stop()
        for i, process in enumerate(self.started):
            print(f"--- consumer {i} (pid {process.pid}, exit {process.process.returncode}) ---")
            print(process.log()[-20000:])


@pytest.fixture
def consumers(tmp_path) -> Iterator[Consumers]:
    started = Consumers(tmp_path)
    yield started
    started.close()


# -- the store as the tests read it -----------------------------------------------------------


class Store:
    """The event store the consumer writes, read back through the service's own API."""

    def __init__(self, towns: Towns, url: str) -> None:
        self.towns = towns
        self.url = url  # for the consumer process
        self._connection = None
        self.records = InboundRecords(towns)

    def history(self, ref: str, call_id: str = CALL) -> list:
        """The application's events in version order (empty when it does not exist)."""
        return [self.towns.mapper.to_domain_event(r)
                for r in self.towns.recorder.select_events(application_id(call_id, ref))]

    def types(self, ref: str) -> list[str]:
        return [e.EVENT_TYPE for e in self.history(ref)]

    def marker_events(self, message_id: str) -> list:
        return [self.towns.mapper.to_domain_event(r)
                for r in self.towns.recorder.select_events(inbox_id(message_id))]

    def count(self, topic: str) -> int:
        return sum(1 for _ in self.towns.events_with_topics([topic]))

    def count_now(self, topic: str) -> int:
        """The same count in one SQL query, cheap enough to poll in a tight loop."""
        import psycopg
        from psycopg import sql

        if self._connection is None:
            self._connection = psycopg.connect(conninfo(self.url), autocommit=True)
        schema = self.towns.recorder.datastore.schema
        query = sql.SQL("SELECT count(*) FROM {} WHERE topic = %s").format(
            sql.Identifier(schema, self.towns.recorder.events_table_name))
        return self._connection.execute(query, (topic,)).fetchone()[0]

    def close(self) -> None:
        if self._connection is not None:
            self._connection.close()
        self.towns.close()

    def dead_letters(self) -> dict[str, Any]:
        """Dead letters recorded in the database, by their key (the message id)."""
        return {d.key: d for d in self.records.dead_letters()}

    def open_parked(self) -> list:
        return self.records.open_parked()


@pytest.fixture
def store(config, postgres_schema_url) -> Iterator[Store]:
    """A fresh PostgreSQL schema (tables created here, before any consumer starts)."""
    towns = build_towns(config, postgres_schema_url)
    yield (found := Store(towns, postgres_schema_url))
    found.close()
