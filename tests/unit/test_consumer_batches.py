"""The consumer's batches without a broker: while a batch is being saved, the connection's
thread prepares the deliveries behind it, oldest first, and keeps count of how many are ready.
A fake connection and channel stand in for pika's (the real ones: tests/integration)."""

from __future__ import annotations

import threading
import time
from dataclasses import replace

from adapters.amqp.consumer import Consumer
from adapters.amqp.inbound import Delivery


class FakeConnection:
    def __init__(self) -> None:
        self.callbacks: list = []

    def process_data_events(self, time_limit: float = 0) -> None:
        time.sleep(min(time_limit, 0.001))
        while self.callbacks:
            self.callbacks.pop(0)()

    def add_callback_threadsafe(self, callback) -> None:
        self.callbacks.append(callback)


class FakeChannel:
    def __init__(self) -> None:
        self.acks: list[tuple[int, bool]] = []

    def basic_ack(self, tag: int, multiple: bool = False) -> None:
        self.acks.append((tag, multiple))


class FakeInbound:
    """Prepares by marking; ``apply`` calls ``saving`` and then waits, as for a commit, until
    the consumer has prepared everything behind the batch (or a second has passed)."""

    def __init__(self, consumer_ref: list) -> None:
        self.consumer_ref = consumer_ref
        self.applied: list[list[tuple[int, bool]]] = []
        self.prepared_in: list[str] = []

    def prepare(self, delivery: Delivery) -> Delivery:
        self.prepared_in.append(threading.current_thread().name)
        return replace(delivery, prepared="ready")  # type: ignore[arg-type]

    def apply(self, batch, saving=None):
        self.applied.append([(d.delivery_tag, d.prepared is not None) for d in batch])
        consumer = self.consumer_ref[0]
        saving()
        deadline = time.monotonic() + 1
        while consumer._ready < len(consumer._pending) and time.monotonic() < deadline:
            time.sleep(0.001)
        return []


def deliveries(n: int) -> list[Delivery]:
    return [Delivery(body=b"{}", delivery_tag=tag, received_at=time.monotonic())
            for tag in range(1, n + 1)]


def test_the_deliveries_behind_a_batch_are_prepared_while_it_is_saved():
    ref: list = []
    inbound = FakeInbound(ref)
    consumer = Consumer(inbound, "amqp://unused", batch_size=2)  # type: ignore[arg-type]
    ref.append(consumer)
    connection, channel = FakeConnection(), FakeChannel()
    # Given five deliveries, none prepared
    consumer._pending = deliveries(5)
    # When the first batch of two runs
    consumer._run_batch(connection, channel)  # type: ignore[arg-type]
    # Then it went unprepared to the worker, the three behind it were prepared meanwhile by
    # this thread, and the batch was acknowledged with one multiple ack
    assert inbound.applied == [[(1, False), (2, False)]]
    assert consumer._ready == 3 and all(d.prepared for d in consumer._pending)
    assert set(inbound.prepared_in) == {threading.current_thread().name}
    assert channel.acks == [(2, True)]
    # And the next batch goes prepared, leaving one ready delivery behind it
    consumer._run_batch(connection, channel)  # type: ignore[arg-type]
    assert inbound.applied[1] == [(3, True), (4, True)]
    assert consumer._ready == 1 and [d.delivery_tag for d in consumer._pending] == [5]
    assert channel.acks[-1] == (4, True)


def test_a_full_batch_is_due_at_once_and_a_partial_one_waits_for_its_timer():
    inbound = FakeInbound([])
    consumer = Consumer(inbound, "amqp://unused", batch_size=3, batch_ms=50)  # type: ignore[arg-type]
    consumer._pending = deliveries(2)
    assert 0 < consumer._wait() <= 0.05 and not consumer._batch_due()
    consumer._pending = deliveries(3)
    assert consumer._wait() == 0 and consumer._batch_due()


def test_parked_messages_are_not_expired_while_deliveries_received_before_wait():
    """After a restart the queue may hold the predecessor a parked message waits for: the sweep
    comes once what was received before it came due has been applied, but later arrivals (steady
    traffic) do not hold it back."""
    consumer = Consumer(FakeInbound([]), "amqp://unused", sweep_seconds=0.05)  # type: ignore[arg-type]
    assert not consumer._sweep_due()  # not at once after start
    consumer._pending = deliveries(3)
    time.sleep(0.06)
    assert not consumer._sweep_due()  # received before it came due: they go first
    consumer._pending = []
    assert consumer._sweep_due()
    consumer._pending = [Delivery(body=b"{}", delivery_tag=9, received_at=time.monotonic())]
    assert consumer._sweep_due()  # arrived after it came due: does not hold it back


class CountingConnection(FakeConnection):
    """Records each read of the connection and what it may wait, and hands over deliveries
    that arrived meanwhile when read."""

    def __init__(self, consumer: Consumer, arriving: list[Delivery]) -> None:
        super().__init__()
        self.consumer, self.arriving, self.reads = consumer, arriving, []

    def process_data_events(self, time_limit: float = 0) -> None:
        self.reads.append(time_limit)
        self.consumer._pending.extend(self.arriving)
        self.arriving.clear()


def test_a_gathering_batch_reads_the_connection_once_when_it_comes_due():
    """Under a steady stream each delivery used to wake the consumer's loop; while a batch
    gathers (some pending, not full, not yet due), the connection is read once, without
    waiting, when the batch comes due, and everything that arrived meanwhile joins it."""
    consumer = Consumer(FakeInbound([]), "amqp://unused", batch_size=10, batch_ms=30)  # type: ignore[arg-type]
    consumer._pending = deliveries(1)
    connection = CountingConnection(consumer, deliveries(3))
    consumer._gather(connection)  # type: ignore[arg-type]
    assert connection.reads == [0] and len(consumer._pending) == 4 and consumer._batch_due()
    # Nothing pending: the connection is waited on for the next delivery (at most 0.2 s)
    consumer._pending = []
    consumer._gather(connection)  # type: ignore[arg-type]
    assert connection.reads == [0, 0.2]
    # A full batch: read at once, not waited on
    consumer._pending = deliveries(10)
    consumer._gather(connection)  # type: ignore[arg-type]
    assert connection.reads == [0, 0.2, 0]
