"""The quorum queues against the real RabbitMQ (a vhost of this module's). `towns
migrate-queues`: classic queues with a backlog and dead letters become quorum queues under the
same names while a publisher goes on publishing; every message is there once, in its order, with
its routing key and sender. The delivery limit: a message no consumer survives goes to the dead
queue instead of looping for ever."""

from __future__ import annotations

import bisect
import json
import re
import threading
from urllib.parse import quote

import pika
import pytest

from adapters.amqp import topology as t
from adapters.amqp.migration import SWITCH_AT, MigrationError, migrate
from adapters.amqp.outgoing import Outgoing
from adapters.amqp.publishing import publish
from adapters.cli import main, progress
from adapters.ops import management_api
from tests.amqp_fixtures import Vhost, amqp_vhost, consumed, fresh_topology, rabbitmq  # noqa: F401

API = management_api.api_url()


def _outgoing(i: int, user: str) -> Outgoing:
    body = json.dumps({"message_id": f"m-{i}", "type": "materials.received", "n": i}).encode()
    return Outgoing(body, "materials.received", f"m-{i}", user)


def _longest_increasing(values: list[int]) -> int:
    tails: list[int] = []
    for value in values:
        at = bisect.bisect_left(tails, value)
        tails[at:at + 1] = [value]
    return len(tails)


def _type(vhost: Vhost, queue: str) -> str:
    path = f"/api/queues/{quote(vhost.name, safe='')}/{quote(queue, safe='')}"
    return management_api.request(API, path, 5)["type"]


def _classic_with_backlog(vhost: Vhost, waiting: int, dead: int) -> None:
    with vhost.channel() as channel:
        t.declare(channel, t.CLASSIC)
        for i in range(dead):
            channel.basic_publish(t.DEAD_EXCHANGE, "application.submitted", f"dead-{i}".encode(),
                                  pika.BasicProperties(message_id=f"d-{i}", delivery_mode=2))
    report = publish(vhost.gateway_url, [_outgoing(i, "province") for i in range(waiting)])
    assert report.ok, report


def test_classic_queues_become_quorum_queues_with_every_message_once_in_order(fresh_topology: Vhost):
    vhost = fresh_topology
    _classic_with_backlog(vhost, waiting=3000, dead=25)
    assert _type(vhost, t.QUEUE) == t.CLASSIC
    # Given a publisher that goes on publishing until the move is over
    later = [_outgoing(i, "province") for i in range(3000, 23000)]
    reports, publishers = [], []
    publishing = threading.Thread(target=lambda: reports.append(
        publish(vhost.gateway_url, later, rate=150, on_start=publishers.append)))
    publishing.start()
    lines: list[str] = []
    moved = migrate(vhost.service_url, API, t.QUORUM, say=lines.append)
    publishers[-1].stop()
    publishing.join()
    report = reports[0]
    assert report.error == "interrupted" and report.failed == 0 and report.returned == 0, report
    total = 3000 + report.confirmed
    # Then both queues are quorum queues, with the service's arguments (a second declaration
    # with them is accepted)
    assert _type(vhost, t.QUEUE) == _type(vhost, t.DEAD_QUEUE) == t.QUORUM
    with vhost.channel() as channel:
        t.declare(channel, t.QUORUM)
    # And every message is there once, the backlog first and in its order
    with vhost.channel() as channel:
        taken = list(consumed(channel, t.QUEUE, auto_ack=True))
    ids = [properties.message_id for _, properties, _ in taken]
    assert len(ids) == len(set(ids)) == total
    assert ids[:3000] == [f"m-{i}" for i in range(3000)]
    # the arrivals in order too, but for the few that came at the switch
    later = [int(i[2:]) for i in ids if int(i[2:]) >= 3000]
    assert len(later) - _longest_increasing(later) <= SWITCH_AT
    method, properties, _ = taken[0]
    assert method.routing_key == "materials.received"
    # the sender travels as a re-drive's does: the service's user, the sender in a header
    assert properties.user_id == "guest" and properties.headers[t.USER_ID] == "province"
    with vhost.channel() as channel:
        dead = [p.message_id for _, p, _ in consumed(channel, t.DEAD_QUEUE, auto_ack=True)]
    assert dead == [f"d-{i}" for i in range(25)]
    # And the operator is told what was done
    inbound = next(m for m in moved if m.queue == t.QUEUE)
    assert inbound.was == t.CLASSIC and inbound.waiting >= 3000
    assert inbound.arrived > 0, "nothing was published during the move: the test proved nothing"
    assert inbound.waiting + inbound.arrived <= total  # the rest came after the switch
    assert any(f"towns.inbound: classic -> quorum: moved {inbound.waiting} waiting and "
               f"{inbound.arrived} published during the move" in line for line in lines)
    # A second run finds nothing to do
    again = migrate(vhost.service_url, API, t.QUORUM, say=lines.append)
    assert [m.line() for m in again] == [f"{q}: already a quorum queue; nothing to do"
                                         for q in (t.DEAD_QUEUE, t.QUEUE)]


def test_the_command_tells_each_move_on_stderr_and_prints_only_what_it_did(
        fresh_topology: Vhost, monkeypatch, capsys):
    _classic_with_backlog(fresh_topology, waiting=120, dead=7)
    monkeypatch.setenv("TOWNS_AMQP_URL", fresh_topology.service_url)
    monkeypatch.setattr(progress, "EVERY_SECONDS", 0)  # a line at every report
    assert main(["migrate-queues", "--to", "quorum"]) == 0
    out, err = capsys.readouterr()
    assert out == "".join(f"{queue}: classic -> quorum: moved {n} waiting and 0 published during "
                          "the move; none lost, none doubled\n"
                          for queue, n in ((t.DEAD_QUEUE, 7), (t.QUEUE, 120)))
    moves: dict[str, list[tuple[int, int]]] = {}  # per move, (moved, depth at its start)
    for line in err.splitlines():
        found = re.fullmatch(r"towns migrate-queues (.+?): (\d+) of (\d+) messages \(\d+%\).*",
                             line)
        assert found, line
        moves.setdefault(found[1], []).append((int(found[2]), int(found[3])))
    steps = []  # out of the old queue into the backlog, then into the new queue
    for queue, n in ((t.DEAD_QUEUE, 7), (t.QUEUE, 120)):
        steps += [(f"{queue} -> {queue}.backlog", n), (f"{queue}.backlog -> {queue}", n)]
    assert list(moves) == [step for step, _ in steps]
    for step, n in steps:
        assert moves[step] == [(i, n) for i in range(1, n + 1)], step


def test_a_queue_of_the_other_type_is_named_with_the_command_that_moves_it(fresh_topology: Vhost):
    with fresh_topology.channel() as channel:
        t.declare(channel, t.CLASSIC)
    with fresh_topology.channel() as channel, pytest.raises(t.QueueTypeMismatch) as refused:
        t.declare(channel, t.QUORUM)
    assert "towns migrate-queues --to quorum" in str(refused.value)
    assert "TOWNS_QUEUE_TYPE=classic" in str(refused.value)


def test_the_migration_waits_for_the_consumers_to_stop(fresh_topology: Vhost):
    with fresh_topology.channel() as channel:
        t.declare(channel, t.CLASSIC)
        channel.basic_consume(t.QUEUE, lambda *_: None)
        with pytest.raises(MigrationError, match="stop `towns consume` first"):
            migrate(fresh_topology.service_url, API, t.QUORUM, say=lambda _: None)
    assert _type(fresh_topology, t.QUEUE) == t.CLASSIC


def test_a_message_that_is_never_acknowledged_is_dead_lettered_after_the_delivery_limit(
    fresh_topology: Vhost,
):
    # Given a message on the quorum queue that each consumer takes and dies holding
    with fresh_topology.channel() as channel:
        t.declare(channel, t.QUORUM)
        channel.confirm_delivery()
        channel.basic_publish(t.EXCHANGE, "application.submitted", b'{"poison": true}',
                              pika.BasicProperties(message_id="poison", delivery_mode=2))
    for _ in range(t.DELIVERY_LIMIT + 1):
        with fresh_topology.channel() as channel:  # closed unacknowledged: handed back
            taken = list(consumed(channel, t.QUEUE, limit=1, quiet=2.0))
        if not taken:
            break
    # Then the broker gives it up to the dead queue, with the reason, instead of looping
    with fresh_topology.channel() as channel:
        assert list(consumed(channel, t.QUEUE, quiet=1.0)) == []
        [(_, properties, body)] = list(consumed(channel, t.DEAD_QUEUE, auto_ack=True, quiet=2.0))
    assert body == b'{"poison": true}' and properties.message_id == "poison"
    [death] = properties.headers["x-death"]
    assert death["reason"] == "delivery_limit" and death["queue"] == t.QUEUE
