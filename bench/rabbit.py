"""A throw-away RabbitMQ virtual host for a benchmark, with a gateway user that may publish as
any principal (RabbitMQ's ``impersonator`` tag), removed afterwards."""

from __future__ import annotations

import secrets
import subprocess
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass


def rabbitmqctl(*args: str) -> None:
    subprocess.run(["rabbitmqctl", "-q", *args], check=True, capture_output=True, timeout=60)


@dataclass(frozen=True)
class Vhost:
    name: str
    service_url: str  # the service's own user (guest)
    gateway_url: str  # may set user_id to any principal's AMQP user


@contextmanager
def vhost(prefix: str = "bench") -> Iterator[Vhost]:
    name = f"{prefix}-{uuid.uuid4().hex[:8]}"
    gateway, password = f"{name}-gateway", secrets.token_hex(8)
    rabbitmqctl("add_vhost", name)
    rabbitmqctl("add_user", gateway, password)
    rabbitmqctl("set_user_tags", gateway, "impersonator")
    for user in ("guest", gateway):
        rabbitmqctl("set_permissions", "-p", name, user, ".*", ".*", ".*")
    try:
        yield Vhost(
            name,
            f"amqp://guest:guest@127.0.0.1:5672/{name}",
            f"amqp://{gateway}:{password}@127.0.0.1:5672/{name}",
        )
    finally:
        rabbitmqctl("delete_vhost", name)
        rabbitmqctl("delete_user", gateway)
