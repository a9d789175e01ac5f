"""Dead letters under hostile input, against the real RabbitMQ and PostgreSQL with ``towns
consume`` as a process (``tests.integration.rabbit``: a virtual host for this module, a fresh
schema per test): letters too large for a frame, a broker that will not take a letter, bodies
too large to store, redeliveries, messages the broker itself dead-letters, a listing of many
letters, and a store that goes away under the consumer.

Each test says the promise it checks; each failed before the change that keeps it.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from urllib.parse import urlsplit, urlunsplit

import pika
import pytest

from adapters.amqp import properties
from adapters.amqp import topology as t
from adapters.http import create_app
from domain.inbound import dead_letter_id
from tests.factories import envelope
from tests.integration.rabbit import (
    ROOT,
    Rabbit,
    Store,
    consumers,  # noqa: F401 - fixture
    eventually,
    message,
    rabbit,  # noqa: F401 - fixture
    rabbitmqctl,
    store,  # noqa: F401 - fixture
)
from tests.amqp_fixtures import rabbitmq  # noqa: F401 - fixture (for management_api)
from tests.integration.test_ops import OPERATOR, closed_port, management_api, scrape  # noqa: F401

FRAME_FULL = "A" * 130_950
"""A header value that leaves a message just under RabbitMQ's default frame (131072 bytes)."""


@pytest.fixture(autouse=True)
def empty_queues(rabbit: Rabbit) -> None:
    rabbit.purge()


def drained(rabbit: Rabbit) -> bool:
    """Nothing ready or unacknowledged on towns.inbound."""
    return rabbit.settled(t.QUEUE) == 0


def refused(ref: str, message_id: str, **headers) -> object:
    """A message refused for good (no such call) from a principal that may send it."""
    value = {**envelope("application.submitted", ref, message_id=message_id), "call_id": "GD-NOPE"}
    return message(value, "shunde-applicant", **headers)


def good(ref: str) -> object:
    return message(envelope("application.submitted", ref, message_id=f"ok-{ref}"), "shunde-applicant")


def metric(samples: dict, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


# -- 1. no letter can stop ingestion ----------------------------------------------------------


def test_publisher_headers_that_fill_a_frame_are_left_off_and_ingestion_goes_on(
    rabbit: Rabbit, store: Store, consumers
):
    consumer = consumers.start(rabbit.url, store.url)
    # Given a message from a user that maps to no principal, its headers near the frame limit,
    big = message(envelope("application.submitted", "SD-HDR-001", message_id="hdr-big"),
                  "stranger", pad=FRAME_FULL)
    behind = good("SD-HDR-002")
    # When it and a good message behind it are consumed
    rabbit.publish(big, behind)
    # Then both are acknowledged and the one behind is applied
    eventually(lambda: drained(rabbit), 30, what="both messages acknowledged")
    assert store.types("SD-HDR-002") == ["application.submitted"]
    # and the letter went out once, whole but for the publisher's headers, saying so
    [letter] = rabbit.take_all(t.DEAD_QUEUE)
    assert (letter.body, letter.message_id) == (big.body, "hdr-big")
    assert letter.headers[t.ERROR] == "unauthenticated" and "pad" not in letter.headers
    assert letter.headers[t.HEADERS_DROPPED] is True
    assert letter.properties.expiration is None and letter.properties.delivery_mode == 2
    # as its record does, which keeps no header either
    record = store.dead_letters()["hdr-big"]
    assert (record.headers_dropped, record.published, record.attempts) == (True, True, 1)
    assert "headers" not in properties.decode(record.properties)
    assert "reconnecting" not in consumer.log()


def test_a_detail_echoing_a_huge_field_is_cut_to_1024_characters(rabbit: Rabbit, store: Store, consumers):
    consumers.start(rabbit.url, store.url)
    huge = {**envelope("application.submitted", "SD-TYP-001", message_id="typ-huge"),
            "type": "application." + "x" * 200_000}
    sent = message(huge, "shunde-applicant", "application.submitted")
    rabbit.publish(sent, good("SD-TYP-002"))
    eventually(lambda: drained(rabbit), 30, what="both messages acknowledged")
    assert store.types("SD-TYP-002") == ["application.submitted"]
    [letter] = rabbit.take_all(t.DEAD_QUEUE)
    detail = letter.headers[t.DETAIL]
    assert letter.body == sent.body and 0 < len(detail) <= 1024
    assert store.dead_letters()["typ-huge"].detail == detail


def test_a_letter_that_closes_the_connection_is_sent_bare_once_and_its_batch_mates_once(
    rabbit: Rabbit, store: Store, consumers
):
    # Given a consumer whose connection carries frames of 8 KiB only (frame_max), so that a
    # letter with 10 KB of publisher headers makes the broker close it,
    port = closed_port()
    consumer = consumers.start(rabbit.url + "?frame_max=8192", store.url, TOWNS_BATCH_MS=500,
                               TOWNS_METRICS_PORT=port)
    first = refused("SD-FRM-001", "frm-first", trace="t-1")
    wide = refused("SD-FRM-002", "frm-wide", pad="B" * 10_000, trace="t-2")
    # When that letter comes in one batch after another letter, with a good message behind
    rabbit.publish(first, wide, good("SD-FRM-003"))
    eventually(lambda: drained(rabbit), 60, what="the batch acknowledged")
    # Then the batch was redelivered once, and each letter stands once on the dead queue:
    letters = {x.message_id: x for x in rabbit.take_all(t.DEAD_QUEUE)}
    assert sorted(letters) == ["frm-first", "frm-wide"], list(letters)
    assert store.types("SD-FRM-003") == ["application.submitted"]
    assert "reconnecting" in consumer.log()
    # the one confirmed before the connection went whole, the other bare the second time
    assert letters["frm-first"].headers["trace"] == "t-1"
    assert t.HEADERS_DROPPED not in letters["frm-first"].headers
    assert "pad" not in letters["frm-wide"].headers and "trace" not in letters["frm-wide"].headers
    assert letters["frm-wide"].headers[t.HEADERS_DROPPED] is True
    assert letters["frm-wide"].body == wide.body
    records = store.dead_letters()
    assert (records["frm-first"].published, records["frm-first"].sends) == (True, 0)
    wide_record = records["frm-wide"]
    assert (wide_record.published, wide_record.sends, wide_record.headers_dropped) == (True, 2, True)
    assert "FRAME_ERROR" in wide_record.publish_error
    samples = scrape(f"http://127.0.0.1:{port}/metrics")
    assert metric(samples, "towns_dead_letter_sends_failed_total", reason="connection_closed") == 1


@pytest.fixture
def no_write_to_the_dead_exchange(rabbit: Rabbit) -> Iterator[None]:
    """The service's user may declare everything but publish nothing to towns.inbound.dlx: the
    broker closes the channel at each letter."""
    rabbitmqctl("set_permissions", "-p", rabbit.vhost, "guest", ".*",
                r"^(?!towns\.inbound\.dlx$).*", ".*")
    try:
        yield
    finally:
        rabbitmqctl("set_permissions", "-p", rabbit.vhost, "guest", ".*", ".*", ".*")


def test_a_letter_the_broker_never_takes_is_given_up_recorded_acknowledged_and_counted(
    rabbit: Rabbit, store: Store, consumers, config, no_write_to_the_dead_exchange
):
    port = closed_port()
    consumer = consumers.start(rabbit.url, store.url, TOWNS_METRICS_PORT=port)
    sent = refused("SD-ACL-001", "acl-refused", trace="t-1")
    # Given the broker closes the channel whenever a dead letter is published,
    rabbit.publish(sent, good("SD-ACL-002"))
    # Then after a whole send and a bare one the message is acknowledged all the same
    eventually(lambda: drained(rabbit), 60, what="the messages acknowledged")
    assert store.types("SD-ACL-002") == ["application.submitted"]
    assert rabbit.depth(t.DEAD_QUEUE) == 0
    # and its record says it is not on the queue, and why
    record = store.dead_letters()["acl-refused"]
    assert (record.published, record.sends, record.open) == (False, 2, True)
    assert "403" in record.publish_error or "ACCESS_REFUSED" in record.publish_error
    samples = scrape(f"http://127.0.0.1:{port}/metrics")
    assert metric(samples, "towns_dead_letter_sends_failed_total", reason="channel_closed") == 2
    assert metric(samples, "towns_dead_letters_unpublished_total") == 1
    assert consumer.log().count("reconnecting") == 2
    # and the operators see it so in the listing
    client = create_app(store.towns, config).test_client()
    [item] = client.get("/api/v1/ops/dead-letters", headers=OPERATOR).get_json()["items"]
    assert (item["message_id"], item["published"]) == ("acl-refused", False) and item["publish_error"]


def test_a_letter_given_up_is_re_driven_from_its_record(rabbit: Rabbit, store: Store, consumers):
    # Given a letter the broker nacked twice (its queue full, refusing what comes), given up
    rabbitmqctl("set_policy", "-p", rabbit.vhost, "--apply-to", "queues", "test-dead-full",
                r"^towns\.inbound\.dead$", '{"max-length": 0, "overflow": "reject-publish"}')
    try:
        fill_to_the_limit(rabbit, t.DEAD_QUEUE)
        port = closed_port()
        consumer = consumers.start(rabbit.url, store.url, TOWNS_METRICS_PORT=port)
        rabbit.publish(refused("SD-NCK-001", "nck-refused"))
        eventually(lambda: drained(rabbit), 30, what="the message acknowledged")
        record = store.dead_letters()["nck-refused"]
        assert (record.published, record.sends) == (False, 2) and "nacked" in record.publish_error
        samples = scrape(f"http://127.0.0.1:{port}/metrics")
        assert metric(samples, "towns_dead_letter_sends_failed_total", reason="nacked") == 2
        assert metric(samples, "towns_dead_letters_unpublished_total") == 1
        assert "reconnecting" not in consumer.log()  # refused on a channel that stays open
    finally:
        rabbitmqctl("clear_policy", "-p", rabbit.vhost, "test-dead-full")
    assert all(r.message_id == "filler" for r in rabbit.take_all(t.DEAD_QUEUE))
    # (a quorum queue that refused a channel for its length goes on refusing that channel after
    # the limit is gone: the consumer starts again, as after an operator's fix)
    assert consumer.stop() == 0
    consumers.start(rabbit.url, store.url)
    # When an operator re-drives it from the record
    result = towns_cli("dead-letters", "requeue", "--id", str(record.id),
                       env={"TOWNS_AMQP_URL": rabbit.url, "TOWNS_DATABASE_URL": store.url})
    assert result.returncode == 0, result.stderr
    # Then the consumer refuses it again and this time the letter is on the queue, once
    eventually(lambda: store.dead_letters()["nck-refused"].published is True, 30,
               what="the second dead-lettering confirmed")
    [letter] = rabbit.take_all(t.DEAD_QUEUE)
    assert letter.message_id == "nck-refused"
    assert store.dead_letters()["nck-refused"].attempts == 2


def fill_to_the_limit(rabbit: Rabbit, queue: str) -> None:
    """A queue limited to 0 messages refuses what comes: a classic one at once, a quorum one
    once it holds one (its limit is checked before a message is added, not after)."""
    with rabbit._connect() as connection:
        channel = connection.channel()
        channel.confirm_delivery()
        try:
            channel.basic_publish("", queue, b"filler", pika.BasicProperties(message_id="filler"))
        except pika.exceptions.NackError:
            pass  # a classic queue: full already


def towns_cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    full = {k: v for k, v in os.environ.items() if not k.startswith("TOWNS_")}
    return subprocess.run([sys.executable, "-m", "adapters.cli", *args], cwd=ROOT,
                          env={**full, **env}, capture_output=True, text=True, timeout=60)


# -- 2. bodies too large to store ---------------------------------------------------------------


def test_a_body_too_large_to_store_is_recorded_as_its_length_and_digest(
    rabbit: Rabbit, store: Store, consumers, config
):
    consumers.start(rabbit.url, store.url)
    body = json.dumps({"message_id": "big-body", "pad": "x" * 5_000_000}).encode()
    # Given 5 MB from a sender with no principal (refused before its size is looked at)
    rabbit.publish(message(body, None, "application.submitted", "big-body"))
    eventually(lambda: drained(rabbit), 30, what="the message acknowledged")
    # Then its record keeps only its length and SHA-256, while the queue's copy is whole
    record = store.dead_letters()["big-body"]
    assert record.code == "unauthenticated" and record.body is None
    assert (record.body_length, record.body_sha256) == (len(body), hashlib.sha256(body).hexdigest())
    [letter] = rabbit.take_all(t.DEAD_QUEUE)
    assert letter.body == body
    # and the listing shows the body as absent, with its length and digest
    client = create_app(store.towns, config).test_client()
    [item] = client.get("/api/v1/ops/dead-letters", headers=OPERATOR).get_json()["items"]
    assert (item["body"], item["body_length"], item["body_sha256"]) == (
        None, len(body), hashlib.sha256(body).hexdigest())


# -- 3. exactly once ---------------------------------------------------------------------------


def test_a_message_seen_again_after_its_letter_was_confirmed_is_not_dead_lettered_again(
    rabbit: Rabbit, store: Store, consumers
):
    consumers.start(rabbit.url, store.url)
    sent = refused("SD-ONE-001", "one-refused")
    rabbit.publish(sent)
    eventually(lambda: drained(rabbit) and rabbit.depth(t.DEAD_QUEUE) == 1, 30,
               what="the letter on the dead queue and the message acknowledged")
    # When the broker delivers the same message again (here: published again, as a redelivery)
    rabbit.publish(sent, good("SD-ONE-002"))
    eventually(lambda: drained(rabbit) and store.types("SD-ONE-002"), 30, what="all acknowledged")
    # Then it stands once in the dead queue, and counts one dead-lettering
    assert [x.message_id for x in rabbit.take_all(t.DEAD_QUEUE)] == ["one-refused"]
    assert store.dead_letters()["one-refused"].attempts == 1


# -- 4. what the broker dead-letters itself ----------------------------------------------------


def test_a_message_that_expires_in_towns_inbound_is_dead_lettered_by_the_broker(
    rabbit: Rabbit, store: Store, consumers, management_api  # noqa: F811
):
    # Given the consumer started once (and set its policy), then stopped
    consumer = consumers.start(rabbit.url, store.url)
    eventually(lambda: f"consuming {t.QUEUE}" in consumer.log(), 30, what="the consumer started")
    assert consumer.stop() == 0
    # When a message with a short expiration waits in towns.inbound with no consumer
    sent = dataclasses.replace(good("SD-EXP-001"), properties={"expiration": "50"})
    rabbit.publish(sent)
    # Then the broker moves it to towns.inbound.dead, saying why in x-death
    eventually(lambda: rabbit.depth(t.DEAD_QUEUE) == 1, 20, what="the expired message dead-lettered")
    [letter] = rabbit.take_all(t.DEAD_QUEUE)
    assert (letter.body, letter.routing_key) == (sent.body, sent.routing_key)
    [death] = letter.headers["x-death"]
    assert (death["reason"], death["queue"]) == ("expired", t.QUEUE)
    # and the policy names towns.inbound only, never the dead queue
    from adapters.amqp import dead_lettering
    from adapters.ops import management_api as api

    vhost = rabbit.vhost.replace("/", "%2F")
    inbound = api.request(management_api, f"/api/queues/{vhost}/towns.inbound", 5)
    assert inbound.get("policy") == dead_lettering.POLICY
    # (the management API shows a queue's policy from its statistics, which follow a policy
    # cleared by an earlier test of this vhost a few seconds later)
    eventually(lambda: api.request(management_api, f"/api/queues/{vhost}/towns.inbound.dead",
                                   5).get("policy") is None, 30,
               what="no policy on towns.inbound.dead")


# -- 5. the listing is paged in the database ---------------------------------------------------


def test_a_page_of_dead_letters_reads_about_a_page_of_letters(store: Store, config, monkeypatch):
    from datetime import datetime, timezone

    # Given 150 dead letters, the first 60 of them re-driven since
    now = datetime.now(timezone.utc)
    for i in range(150):
        store.records.dead_letter(f"pg-{i:03}", f"pg-{i:03}", "unknown_call", "no such call",
                                  b'{"n": %d}' % i, "province", "materials.received", now)
    for i in range(60):
        store.records.requeued(dead_letter_id(f"pg-{i:03}"), "alice")
    reads: list = []
    get = store.towns.repository.get
    monkeypatch.setattr(store.towns.repository, "get", lambda *a, **k: reads.append(a) or get(*a, **k))
    client = create_app(store.towns, config).test_client()

    def listed(query: str) -> dict:
        reads.clear()
        answer = client.get(f"/api/v1/ops/dead-letters?{query}", headers=OPERATOR)
        assert answer.status_code == 200, answer.get_data(as_text=True)
        return answer.get_json()

    # When a page of one is asked for, every letter included, Then about one letter is read
    first = listed("all=true&limit=1")
    assert [i["message_id"] for i in first["items"]] == ["pg-000"] and len(reads) <= 3
    second = listed(f"all=true&limit=1&cursor={first['next_cursor']}")
    assert [i["message_id"] for i in second["items"]] == ["pg-001"] and len(reads) <= 3
    # and the open ones fill their page past the closed ones
    opened = listed("limit=2")
    assert [i["message_id"] for i in opened["items"]] == ["pg-060", "pg-061"]
    last = listed(f"limit=100&cursor={dead_letter_id('pg-100')}")
    assert [i["message_id"] for i in last["items"]] == [f"pg-{i}" for i in range(101, 150)]
    assert last["next_cursor"] is None


# -- 6. a store that goes away -----------------------------------------------------------------


class Relay:
    """A TCP relay to PostgreSQL that can be cut (its connections dropped, new ones refused)
    and restored on the same port."""

    def __init__(self, host: str, port: int) -> None:
        self.target = (host, port)
        self.port = closed_port()
        self._lock = threading.Lock()
        self._sockets: list[socket.socket] = []
        self._accepting: threading.Thread | None = None
        self._up = False
        self.up()

    def up(self) -> None:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        listener.settimeout(0.1)
        self._up = True
        self._accepting = threading.Thread(target=self._accept, args=(listener,), daemon=True)
        self._accepting.start()

    def down(self) -> None:
        with self._lock:
            self._up = False
        if self._accepting is not None:
            self._accepting.join()  # the listener is closed: new connections are refused
        with self._lock:
            for sock in self._sockets:
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                sock.close()
            self._sockets.clear()

    def _accept(self, listener: socket.socket) -> None:
        with listener:
            while True:
                try:
                    client, _ = listener.accept()
                except TimeoutError:
                    client = None
                with self._lock:
                    if not self._up:
                        if client is not None:
                            client.close()
                        return
                    if client is None:
                        continue
                    client.settimeout(None)
                    server = socket.create_connection(self.target)
                    self._sockets += [client, server]
                for a, b in ((client, server), (server, client)):
                    threading.Thread(target=_pump, args=(a, b), daemon=True).start()


def _pump(source: socket.socket, sink: socket.socket) -> None:
    try:
        while chunk := source.recv(65536):
            sink.sendall(chunk)
    except OSError:
        pass
    finally:
        for sock in (source, sink):
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


def test_the_consumer_says_at_once_and_then_again_that_it_waits_for_the_store(
    rabbit: Rabbit, store: Store, consumers
):
    parts = urlsplit(store.url)
    relay = Relay(parts.hostname or "127.0.0.1", parts.port or 5432)
    through = urlunsplit(parts._replace(netloc=f"{parts.netloc.rpartition('@')[0]}@127.0.0.1:{relay.port}"))
    try:
        consumer = consumers.start(rabbit.url, through)
        rabbit.publish(good("SD-PG-001"))
        eventually(lambda: store.types("SD-PG-001"), 30, what="the first message applied")
        # When the store goes away under the consumer while a message waits
        relay.down()
        rabbit.publish(good("SD-PG-002"))
        # Then it says so at once, and again while it waits
        eventually(lambda: "waiting for the store" in consumer.log(), 20, what="a waiting line")
        eventually(lambda: "still waiting for the store" in consumer.log(), 30,
                   what="the waiting line repeated")
        assert store.types("SD-PG-002") == []
        # and once the store is back, says that too and goes on
        relay.up()
        eventually(lambda: store.types("SD-PG-002"), 120, what="the message applied after the outage")
        eventually(lambda: "the store answers again" in consumer.log(), 30, what="a line saying so")
        log = consumer.log()
        assert log.index("waiting for the store") < log.index("the store answers again")
    finally:
        relay.down()
