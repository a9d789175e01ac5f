"""The probe the worker's catch-up deadline check waits on, against the real RabbitMQ and
PostgreSQL: it names the messages waiting in ``towns.inbound`` while nothing consumes them, and
says the backlog is applied once ``towns consume`` has applied them."""

from __future__ import annotations

from adapters.amqp.backlog import backlog_probe
from tests.factories import envelope
from tests.integration.rabbit import (
    Rabbit,
    Store,
    consumers,  # noqa: F401 - fixture
    eventually,
    message,
    rabbit,  # noqa: F401 - fixture
    store,  # noqa: F401 - fixture
)


def test_the_probe_names_the_inbound_backlog_until_the_consumer_has_applied_it(
    rabbit: Rabbit, store: Store, consumers
):
    rabbit.purge()
    probe = backlog_probe(rabbit.url, store.towns)
    assert probe() is None
    # Given three submissions waiting in towns.inbound and no consumer
    rabbit.publish(*(message(envelope("application.submitted", f"BL-{i}"), "shunde-applicant")
                     for i in range(3)))
    eventually(lambda: probe() == "3 messages ready in towns.inbound",
               what="the probe names the three messages")
    # when `towns consume` applies them
    consumer = consumers.start(rabbit.url, store.url)
    # then the probe says the backlog is applied; one look says only that nothing is ready
    # (the consumer may still hold what it took, which is why the worker's catch-up waits for
    # two looks a beat apart, workers.catch_up), and the messages are applied
    eventually(lambda: probe() is None, what="the probe says the backlog is applied")
    eventually(lambda: all(store.types(f"BL-{i}") == ["application.submitted"] for i in range(3)),
               what="the three submissions applied")
    assert probe() is None
    assert consumer.stop() == 0
