"""RabbitMQ fixtures: the real broker on loopback, an isolated virtual host per test module.

Import what you use into the test module explicitly (``from tests.amqp_fixtures import ...``).
Locally a missing broker (or a missing ``rabbitmqctl``) skips the tests; with CI=true it fails
them, as ``service_missing`` in conftest does for PostgreSQL.

``amqp_vhost`` creates a vhost ``towns-test-<hex>`` with ``rabbitmqctl``, gives ``guest`` (the
service's own user in these tests) and a fresh user with the ``impersonator`` tag (an upstream
gateway that may publish as any principal's ``user_id``) every permission on it, and deletes both
at teardown. ``fresh_topology`` empties the vhost of the service's exchanges and queues before a
test, so each test starts as on a fresh broker.
"""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from urllib.parse import quote

import pika
import pytest
from pika.exceptions import AMQPError

from adapters.amqp import topology as t
from tests import support
from tests.conftest import service_missing

RABBITMQ_HOST = os.environ.get("TOWNS_TEST_RABBITMQ_HOST", "127.0.0.1")
RABBITMQ_PORT = int(os.environ.get("TOWNS_TEST_RABBITMQ_PORT", "5672"))


def amqp_url(user: str, password: str, vhost: str) -> str:
    return (f"amqp://{quote(user, safe='')}:{quote(password, safe='')}@{RABBITMQ_HOST}:"
            f"{RABBITMQ_PORT}/{quote(vhost, safe='')}")


def rabbitmqctl(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run(["rabbitmqctl", *args], capture_output=True, text=True, check=check,
                          timeout=60)


@dataclass(frozen=True)
class Vhost:
    name: str
    service_url: str  # guest: the service's own user
    gateway_user: str  # has the impersonator tag
    gateway_url: str

    @contextmanager
    def channel(self) -> Iterator:
        """A blocking channel as the service's user."""
        connection = pika.BlockingConnection(pika.URLParameters(self.service_url))
        try:
            yield connection.channel()
        finally:
            if connection.is_open:
                connection.close()

    def depth(self, queue: str) -> int:
        with self.channel() as channel:
            return channel.queue_declare(queue, passive=True).method.message_count

    def take_all(self, queue: str) -> list[tuple]:
        """Every message of ``queue`` as (method, properties, body), acknowledged (removed)."""
        with self.channel() as channel:
            return list(consumed(channel, queue, auto_ack=True))

    def peek_all(self, queue: str) -> list[tuple]:
        """Every message of ``queue``, left in it (unacknowledged until the channel closes)."""
        with self.channel() as channel:
            return list(consumed(channel, queue, auto_ack=False))


@pytest.fixture(scope="session")
def rabbitmq() -> str:
    """The broker's root vhost URL as guest, once it answered."""
    url = amqp_url("guest", "guest", "/") + "?connection_attempts=1&socket_timeout=3"
    try:
        pika.BlockingConnection(pika.URLParameters(url)).close()
    except (AMQPError, OSError) as error:
        service_missing(f"RabbitMQ at {RABBITMQ_HOST}:{RABBITMQ_PORT}", _Described(error))
    if shutil.which("rabbitmqctl") is None:
        service_missing("rabbitmqctl", FileNotFoundError("rabbitmqctl is not on PATH"))
    try:
        rabbitmqctl("list_vhosts", "-q")
    except (subprocess.SubprocessError, OSError) as error:
        service_missing("rabbitmqctl", error)
    return url


@pytest.fixture(scope="module")
def amqp_vhost(rabbitmq: str) -> Iterator[Vhost]:
    suffix = uuid.uuid4().hex[:10]
    name = f"towns-test-{suffix}"
    user = f"towns-gateway-{suffix}"
    password = secrets.token_urlsafe(16)
    rabbitmqctl("add_vhost", name)
    try:
        rabbitmqctl("add_user", user, password)
        rabbitmqctl("set_user_tags", user, "impersonator")
        for who in ("guest", user):
            rabbitmqctl("set_permissions", "-p", name, who, ".*", ".*", ".*")
        yield Vhost(name, amqp_url("guest", "guest", name), user, amqp_url(user, password, name))
    finally:
        rabbitmqctl("delete_vhost", name, check=False)
        rabbitmqctl("delete_user", user, check=False)


@pytest.fixture
def fresh_topology(amqp_vhost: Vhost) -> Vhost:
    """The vhost without the service's exchanges and queues, as on a fresh broker."""
    with amqp_vhost.channel() as channel:
        for queue in (t.QUEUE, t.DEAD_QUEUE):
            channel.queue_delete(queue)
        for exchange in (t.EXCHANGE, t.DEAD_EXCHANGE):
            channel.exchange_delete(exchange)
    return amqp_vhost


def consumed(channel, queue: str, auto_ack: bool = False, limit: int | None = None,
             quiet: float = 0.5) -> Iterator[tuple]:
    """The messages of ``queue`` as (method, properties, body), in queue order, until ``limit``
    or until none came for ``quiet`` seconds; unacknowledged ones return when the channel
    closes. By ``basic.consume``: a quorum queue with a single active consumer refuses
    ``basic.get``."""
    if limit is not None:
        channel.basic_qos(prefetch_count=limit)
    count = 0
    for method, properties, body in channel.consume(queue, auto_ack=auto_ack,
                                                    inactivity_timeout=quiet):
        if method is None:
            break
        yield method, properties, body
        count += 1
        if limit is not None and count >= limit:
            break
    channel.cancel()


class _Described(Exception):
    """pika's connection errors often print as nothing: name the class and the cause."""

    def __init__(self, error: BaseException) -> None:
        super().__init__(repr(error))


def eventually(check, timeout: float = 20.0, every: float = 0.1, what: str = ""):
    """Polls until true (``tests.support.eventually``), with this module's patience."""
    return support.eventually(check, timeout, every, what)
