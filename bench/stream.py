"""The message stream of the system benchmarks (`system.py`): each application's life cycle
as envelopes, published as their principals at a steady rate, and the queue's depth read from
the broker."""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass

import pika

from adapters.amqp import topology
from bench.common import CITIES
from bench.common import LIFE as STEPS
from tests.factories import encode, envelope

# -- the message stream ---------------------------------------------------------------------

@dataclass(frozen=True)
class Message:
    index: int  # its place in the stream, from 0
    principal: str
    type: str
    message_id: str
    ref: str
    version: int  # the application's version once this message is applied
    body: bytes


def stream(n: int, prefix: str = "S", block: int = 1000) -> Iterator[Message]:
    """n messages, made as they are taken: whole life cycles (six events each), `block`
    applications at a time, each block's submissions first, then their verifications, and so
    on, as feeds interleave them. Every message applies; refs sort in stream order within a
    step, so the applications a stretch of the stream touches are neighbours in the lists."""
    index = 0
    for start in itertools.count(0, block):
        for step, (type_, role) in enumerate(STEPS):
            for i in range(start, start + block):
                if index == n:
                    return
                city = CITIES[i % len(CITIES)]
                ref = f"{prefix}{i:08d}"
                principal = {"applicant": f"{city}-applicant",
                             "city": f"{city}-city"}.get(role, "province")
                message_id = f"{ref}-{step + 1}"
                body = encode(envelope(type_, ref, city, message_id=message_id,
                                       occurred_at=f"2017-03-{10 + step:02d}T10:00:00+08:00"))
                yield Message(index, principal, type_, message_id, ref, step + 1, body)
                index += 1
        if index == n:
            return


def amqp_users() -> dict[str, str]:
    """Principal → AMQP user, from the shipped configuration."""
    from adapters.config import load_config
    return {name: p.amqp_user for name, p in load_config().principals.items() if p.amqp_user}


class Publisher:
    """Publishes messages as their principals (a gateway user), persistent, as `towns publish`
    does; at a steady rate when one is given, else as fast as it can."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.users = amqp_users()
        self.resent = 0  # messages sent again after a lost connection
        self._connect()

    def _connect(self, patience: float = 120) -> None:
        deadline = time.time() + patience
        while True:
            try:
                self.connection = pika.BlockingConnection(pika.URLParameters(self.url))
                self.channel = self.connection.channel()
                return
            except pika.exceptions.AMQPConnectionError:
                if time.time() > deadline:
                    raise
                time.sleep(1)

    def publish(self, message: Message) -> float:
        """Returns the wall-clock time just before the message left. A lost connection (the
        broker restarted under the run) is made again and the message sent again: the inbox
        makes a copy that did arrive a duplicate."""
        while True:
            now = time.time()
            try:
                self.channel.basic_publish(
                    topology.EXCHANGE, message.type, message.body,
                    pika.BasicProperties(message_id=message.message_id, delivery_mode=2,
                                         user_id=self.users[message.principal],
                                         content_type="application/json"))
                return now
            except (pika.exceptions.AMQPConnectionError, pika.exceptions.AMQPChannelError):
                self.resent += 1
                self._connect()

    def run(self, messages, per_second: float = 0, on_publish=None,
            stop: threading.Event | None = None) -> int:
        start, count = time.perf_counter(), 0
        for message in messages:
            if stop is not None and stop.is_set():
                break
            if per_second:
                delay = start + message.index / per_second - time.perf_counter()
                if delay > 0:
                    time.sleep(delay)
            if count % 200 == 0:
                try:
                    self.connection.process_data_events(0)  # heartbeats
                except pika.exceptions.AMQPConnectionError:
                    self._connect()
            sent = self.publish(message)
            if on_publish is not None:
                on_publish(message, sent)
            count += 1
        return count

    def close(self) -> None:
        try:
            self.connection.close()
        except Exception:  # noqa: BLE001 - already gone
            pass


# -- the broker ------------------------------------------------------------------------------

def queue_info(amqp_url: str, queue: str) -> dict | None:
    """Messages ready and consumers of a queue, by a passive declare (the management API is not
    needed); None when the queue does not exist."""
    connection = pika.BlockingConnection(pika.URLParameters(amqp_url))
    try:
        channel = connection.channel()
        try:
            ok = channel.queue_declare(queue, passive=True)
        except pika.exceptions.ChannelClosedByBroker as error:
            if error.reply_code == 404:
                return None
            raise
        return {"messages": ok.method.message_count, "consumers": ok.method.consumer_count}
    finally:
        if connection.is_open:
            connection.close()


