"""The nodes of a RabbitMQ cluster: ``TOWNS_AMQP_URL`` names one URL or several, separated by
commas (a comma inside a password is written ``%2C``).

Every process connects to the first node that answers, starting after the one it last lost:
``Endpoints.connect`` for the blocking connections (the consumer, a re-drive, the queue view, the
witness stream), ``Endpoints.next_parameters`` for the publisher's asynchronous one. dramatiq
takes the same list (``broker_urls``). Settings that concern the connection (credentials, vhost,
heartbeat) are read from each URL; the service's user and vhost are those of the first URL, and
a list whose URLs disagree on them is refused. A connection that must not keep its caller
waiting long bounds each attempt (``bounded_connect``); ``connected_user`` names the user a
connection logged in as.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence

import pika

log = logging.getLogger("towns.amqp")


def split(value: str) -> list[str]:
    """The URLs of a ``TOWNS_AMQP_URL`` value, in order, without blanks."""
    return [part.strip() for part in value.split(",") if part.strip()]


def first(value: str) -> str:
    """The first URL of a list: where the user and the vhost are read."""
    urls = split(value)
    return urls[0] if urls else value


def where(parameters: pika.ConnectionParameters) -> str:
    """``host:port`` of a node, never its credentials."""
    return f"{parameters.host}:{parameters.port}"


class Endpoints:
    """A list of nodes, tried in turn; the one that failed last is tried last."""

    def __init__(self, value: str | Sequence[str],
                 configure: Callable[[pika.URLParameters], None] | None = None) -> None:
        urls = split(value) if isinstance(value, str) else list(value)
        if not urls:
            raise ValueError("no RabbitMQ URL")
        self.urls = urls
        self.configure = configure
        self._start = 0
        self.current: pika.ConnectionParameters | None = None

    def __len__(self) -> int:
        return len(self.urls)

    def parameters(self) -> list[pika.URLParameters]:
        """Each node's parameters, from the one to try first."""
        order = self.urls[self._start:] + self.urls[: self._start]
        out = []
        for url in order:
            parameters = pika.URLParameters(url)
            if self.configure is not None:
                self.configure(parameters)
            out.append(parameters)
        return out

    def next_parameters(self) -> pika.URLParameters:
        """The parameters of the next node to try (for one connection attempt)."""
        parameters = self.parameters()[0]
        self._start = (self._start + 1) % len(self.urls)
        self.current = parameters
        return parameters

    def connect(self) -> pika.BlockingConnection:
        """A blocking connection to the first node that answers; the last node's error when none
        does. The next call starts after the node connected now, so that a lost node is tried
        last."""
        error: BaseException | None = None
        for _ in range(len(self.urls)):
            parameters = self.next_parameters()
            try:
                connection = pika.BlockingConnection(parameters)
            except (pika.exceptions.AMQPError, OSError) as failure:
                error = failure
                if len(self.urls) > 1:
                    log.warning("RabbitMQ at %s did not answer (%s: %s); trying the next node",
                                where(parameters), type(failure).__name__, failure)
                continue
            return connection
        assert error is not None
        raise error


def close_quietly(connection: pika.BlockingConnection) -> None:
    """Closes a connection that may be gone already; nothing to say if it is."""
    if connection.is_open:
        try:
            connection.close()
        except pika.exceptions.AMQPError:
            pass


def connected_user(parameters: pika.ConnectionParameters | None) -> str | None:
    """The user a connection logged in as, which RabbitMQ lets a reply name in ``user_id``
    (none for other credentials than a user name and password)."""
    credentials = getattr(parameters, "credentials", None)
    return credentials.username if isinstance(credentials, pika.PlainCredentials) else None


def bounded_connect(wait: float, configure: Callable[[pika.URLParameters], None] | None
                    ) -> Callable[[pika.URLParameters], None]:
    """``configure``, and a connection attempt of at most ``wait`` seconds a node, so that
    opening the replies' connection leaves the consumer's unserved no longer than that."""
    def bounded(parameters: pika.URLParameters) -> None:
        if configure is not None:
            configure(parameters)
        parameters.socket_timeout = min(parameters.socket_timeout or wait, wait)
        parameters.stack_timeout = min(parameters.stack_timeout or wait, wait)
    return bounded
