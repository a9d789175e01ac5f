"""``ReplySender`` without a broker: replies go on a connection of their own, the consumer's is
served while their confirms are awaited, a close of the replies' connection is counted and not
raised, and a ``reply_to`` that closes it is found out and refused from then on
(``adapters.amqp.reply_sender``; against the real broker in
tests/integration/test_amqp_replies.py)."""

from __future__ import annotations

import pika
from pika import spec
from pika.exceptions import ConnectionClosedByBroker, StreamLostError

from adapters.amqp.endpoints import Endpoints, bounded_connect
from adapters.amqp.replies import reply
from adapters.amqp.reply_sender import ReplySender
from domain.commands import Outcome

OUTCOME = Outcome("GD-ITOWN-2017-B2", "SD-2017-001", "submitted", 1)
KILLER = "kills-the-connection"


class Frame:
    def __init__(self, method) -> None:
        self.method = method


class Impl:
    def __init__(self, connection: Connection) -> None:
        self.connection = connection
        self.on_confirm = None

    def add_on_return_callback(self, _callback) -> None:
        pass

    def confirm_delivery(self, ack_nack_callback) -> None:
        self.on_confirm = ack_nack_callback

    def basic_publish(self, exchange, routing_key, body, properties, mandatory) -> None:
        if not self.connection.is_open:
            raise pika.exceptions.ConnectionWrongStateError()
        self.connection.published.append(routing_key)


class Channel:
    def __init__(self, connection: Connection) -> None:
        self._impl = Impl(connection)
        self.connection = connection

    @property
    def is_open(self) -> bool:
        return self.connection.is_open


class Connection:
    """A broker that confirms every publish, and closes the connection (``code``) at a
    publish to ``KILLER``."""

    def __init__(self, code: int = spec.INTERNAL_ERROR) -> None:
        self.code = code
        self.is_open = True
        self.published: list[str] = []
        self.confirmed = 0
        self.channels: list[Channel] = []

    def channel(self) -> Channel:
        self.channels.append(Channel(self))
        return self.channels[-1]

    def process_data_events(self, time_limit: float = 0) -> None:
        if not self.is_open:
            raise pika.exceptions.ConnectionWrongStateError()
        if KILLER in self.published:
            self.is_open = False
            raise ConnectionClosedByBroker(self.code, "INTERNAL_ERROR")
        channel = self.channels[-1]
        while self.confirmed < len(self.published):
            self.confirmed += 1
            channel._impl.on_confirm(Frame(spec.Basic.Ack(delivery_tag=self.confirmed)))

    def close(self) -> None:
        self.is_open = False


class Nodes:
    current = pika.ConnectionParameters(credentials=pika.PlainCredentials("svc", "pw"))

    def __init__(self, code: int = spec.INTERNAL_ERROR) -> None:
        self.code = code
        self.connections: list[Connection] = []

    def connect(self) -> Connection:
        self.connections.append(Connection(self.code))
        return self.connections[-1]


class Consumer:
    """The consumer's connection: served (counted) while the replies wait."""

    def __init__(self) -> None:
        self.served = 0

    def process_data_events(self, time_limit: float = 0) -> None:
        self.served += 1


def sender(code: int = spec.INTERNAL_ERROR) -> tuple[ReplySender, Nodes]:
    out = ReplySender(wait=1.0)
    out.endpoints = nodes = Nodes(code)
    return out, nodes


def to(*names: str):
    return [reply(name, f"m-{i}", OUTCOME) for i, name in enumerate(names)]


def test_replies_go_on_a_connection_of_their_own_while_the_consumers_is_served():
    replies, nodes = sender()
    consumer = Consumer()
    assert replies.send(consumer, to("a", "b")) == {"confirmed": 2}
    assert replies.send(consumer, to("c")) == {"confirmed": 1}
    assert len(nodes.connections) == 1 and nodes.connections[0].published == ["a", "b", "c"]
    assert consumer.served >= 2 and replies.user_id == "svc"
    replies.close()
    assert not nodes.connections[0].is_open


def test_a_name_alone_that_closes_the_connection_is_counted_then_refused_without_a_new_one():
    replies, nodes = sender()
    consumer = Consumer()
    assert replies.send(consumer, to(KILLER)) == {"connection_closed": 1}  # not raised
    assert replies.send(consumer, to(KILLER, "a")) == {"invalid_reply_to": 1, "confirmed": 1}
    assert replies.send(consumer, to(KILLER)) == {"invalid_reply_to": 1}
    assert len(nodes.connections) == 2


def test_names_out_together_are_suspects_and_each_is_sent_alone_until_found_out():
    replies, nodes = sender()
    consumer = Consumer()
    assert replies.send(consumer, to("a", KILLER, "b")) == {"connection_closed": 3}
    # each suspect alone; the culprit found out, the connection opened again for the rest
    assert replies.send(consumer, to("a", KILLER, "b")) == {"confirmed": 2, "connection_closed": 1}
    assert replies.send(consumer, to("a", KILLER, "b")) == {"confirmed": 2, "invalid_reply_to": 1}
    assert [c.published for c in nodes.connections] == [
        ["a", KILLER, "b"], ["a", KILLER], ["b", "a", "b"]]


def test_a_forced_close_suspects_no_one():
    replies, nodes = sender(code=spec.CONNECTION_FORCED)
    consumer = Consumer()
    for _ in range(3):
        assert replies.send(consumer, to(KILLER)) == {"connection_closed": 1}
    assert len(nodes.connections) == 3  # one a batch: the name is not refused


def test_a_connection_that_cannot_be_opened_counts_the_replies_and_the_next_batch_tries_again():
    replies, nodes = sender()

    def refused():
        raise StreamLostError("refused")

    nodes.connect, connect = refused, nodes.connect
    assert replies.send(Consumer(), to("a", "b")) == {"connection_closed": 2}
    nodes.connect = connect
    assert replies.send(Consumer(), to("a")) == {"confirmed": 1}


def test_a_connection_lost_between_batches_is_let_go_and_opened_again():
    replies, nodes = sender()
    replies.send(Consumer(), to("a"))
    nodes.connections[0].is_open = False
    replies.serve()
    assert replies.send(Consumer(), to("b")) == {"confirmed": 1}
    assert len(nodes.connections) == 2


def test_the_replies_connection_tries_each_node_for_at_most_the_wait():
    parameters = pika.URLParameters("amqp://u:p@h:5672/%2F?heartbeat=7")
    bounded_connect(5.0, None)(parameters)
    assert (parameters.socket_timeout, parameters.stack_timeout, parameters.heartbeat) == (5.0, 5.0, 7)
    nodes = Endpoints("amqp://u:p@h1/,amqp://u:p@h2/")
    assert ReplySender(nodes).endpoints.urls == nodes.urls


def test_a_name_found_out_in_a_batch_is_refused_for_the_rest_of_it():
    replies, nodes = sender()
    consumer = Consumer()
    replies.send(consumer, to(KILLER, "a"))  # both suspects
    assert replies.send(consumer, to(KILLER, "a", KILLER)) == {
        "connection_closed": 1, "confirmed": 1, "invalid_reply_to": 1}
    assert [c.published for c in nodes.connections] == [[KILLER, "a"], [KILLER], ["a"]]
