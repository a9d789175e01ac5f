"""``towns migrate-queues``: moves ``towns.inbound`` and ``towns.inbound.dead`` to another queue
type (classic to quorum, or back) on a running broker, without losing or doubling a message.

A queue's type is fixed when it is declared, and the new queue must have the old one's name, so
its messages travel through a holding queue. Publishers may go on publishing throughout; the
consumers of ``towns.inbound`` must be stopped (a consumer would take messages in the middle of
the move). For each queue, bound to its exchange by ``#``:

1. A holding queue ``NAME.migration`` (of the new type) behind a fanout exchange of the same
   name, made the alternate exchange of the queue's exchange (a policy): a message that no queue
   takes goes there.
2. The old queue is unbound: from that moment new messages go to the holding queue. Each is in
   exactly one of the two queues: a single binding changed, never two.
3. The old queue's messages are moved into ``NAME.backlog`` (of the new type), the old queue,
   empty, is deleted, and the new one declared with the service's arguments.
4. The backlog, then what waits in the holding queue, is moved into it, in rounds until the
   holding queue is nearly empty; it is bound to the exchange, the policy removed, the holding
   queue's last arrivals moved (these few may come after messages published just after them),
   and the holding queue, the backlog and the exchanges of the move are deleted.

Every move is by ``basic.consume`` and publisher confirms: a message is acknowledged in its
source only once its copy is confirmed in the target, so nothing is lost; within a run nothing
is copied twice. A run stopped in the middle (a crash, a node lost) is finished by running the
command again: each step sees what is done. Such a stop may leave a copy of the one message
moved but not yet acknowledged; the consumer's inbox applies it once.
A message keeps its routing key, properties and headers; one sent by another user than the
service's goes with the service's user and the sender in ``x-towns-user-id``, as a re-drive
does, so that the consumer still knows who sent it. ``on_progress(step, done, total)``, where
given, is told each move's messages moved out of the source's depth as the move began.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import quote

import pika
from pika.exceptions import ChannelClosedByBroker

from adapters.amqp import endpoints, topology as t
from adapters.amqp.endpoints import Endpoints
from adapters.ops import management_api

log = logging.getLogger("towns.migrate")

BATCH = 200
SWITCH_AT = 50
"""The queue is bound back once the holding queue has at most this many messages left: those
that arrive at the switch may come after later ones (the consumer's reorder window puts an
application's events back in order)."""
CATCH_UP_ROUNDS = 20
TIMEOUT = 10.0
POLICY_PRIORITY = 100
NOT_FOUND = 404


class MigrationError(Exception):
    """The migration cannot go on; the message says why and what to do."""


@dataclass
class QueueMoved:
    queue: str
    was: str | None  # the type found, None when the queue did not exist
    now: str
    waiting: int = 0  # moved from the old queue
    arrived: int = 0  # published during the move, moved from the holding queue
    steps: list[str] = field(default_factory=list)

    def line(self) -> str:
        if self.was == self.now and not self.steps:
            return f"{self.queue}: already a {self.now} queue; nothing to do"
        return (f"{self.queue}: {self.was or 'missing'} -> {self.now}: moved {self.waiting} "
                f"waiting and {self.arrived} published during the move; none lost, none doubled")


class Migration:
    def __init__(self, amqp_url: str, api_url: str, to: str, say: Callable[[str], None] = print,
                 on_progress: Callable[[str, int, int], None] | None = None) -> None:
        self.url, self.api, self.to, self.say = amqp_url, api_url, to, say
        self.on_progress = on_progress
        self.vhost = pika.URLParameters(endpoints.first(amqp_url)).virtual_host
        self.user = pika.URLParameters(endpoints.first(amqp_url)).credentials.username
        self.connection = Endpoints(amqp_url).connect()

    def close(self) -> None:
        if self.connection.is_open:
            self.connection.close()

    # -- the whole --------------------------------------------------------------------------

    def run(self) -> list[QueueMoved]:
        consumers = self._consumers(t.QUEUE)
        if consumers:
            raise MigrationError(
                f"{t.QUEUE} has {consumers} consumer(s): stop `towns consume` first "
                "(publishers may go on publishing); the consumer declares the queue again as it "
                "starts, with TOWNS_QUEUE_TYPE")
        channel = self.connection.channel()
        channel.exchange_declare(t.EXCHANGE, exchange_type="topic", durable=True)
        channel.exchange_declare(t.DEAD_EXCHANGE, exchange_type="topic", durable=True)
        return [
            self._migrate(t.DEAD_QUEUE, t.DEAD_EXCHANGE, t.dead_arguments(self.to)),
            self._migrate(t.QUEUE, t.EXCHANGE, t.inbound_arguments(self.to)),
        ]

    def _migrate(self, name: str, exchange: str, arguments: dict) -> QueueMoved:
        info = self._queue_info(name)
        holding, backlog = f"{name}.migration", f"{name}.backlog"
        leftovers = [q for q in (holding, backlog) if self._queue_info(q) is not None]
        was = info.get("type") if info else None
        moved = QueueMoved(name, was, self.to)
        if was == self.to and not leftovers:
            return moved
        channel = self.connection.channel()
        kind = {"x-queue-type": self.to} if self.to == t.QUORUM else {}
        # 1. the holding queue, where what no queue takes goes
        channel.exchange_declare(holding, exchange_type="fanout", durable=True)
        channel.queue_declare(holding, durable=True, arguments=kind)
        channel.queue_bind(holding, holding)
        self._policy(exchange, holding)
        moved.steps.append(f"new messages to {holding} while {name} is moved")
        if was is not None and was != self.to:
            # 2. nothing new reaches the old queue; 3. its messages into the backlog
            channel.queue_unbind(name, exchange, routing_key="#")
            channel.queue_declare(backlog, durable=True, arguments=kind)
            moved.waiting += self._move(name, backlog)
            self._delete_empty(channel, name)
            moved.steps.append(f"{moved.waiting} waiting messages moved out; old {was} queue deleted")
        t.declare_queue(channel, name, arguments, self.to)
        # 4. the backlog first, then what arrived meanwhile, then the switch back
        if self._queue_info(backlog) is not None:
            count = self._move(backlog, name)
            if was is None or was == self.to:  # a run finished here: the old queue was gone
                moved.waiting += count
            self._delete_empty(channel, backlog)
        for _ in range(CATCH_UP_ROUNDS):  # each round moves what came in during the last
            depth = channel.queue_declare(holding, passive=True).method.message_count
            moved.arrived += self._move(holding, name, limit=depth)
            if depth <= SWITCH_AT:
                break
        channel.queue_bind(name, exchange, routing_key="#")
        self._policy(exchange, None)
        moved.arrived += self._move(holding, name)  # the last arrivals: none come any more
        self._delete_empty(channel, holding)
        channel.exchange_delete(holding)
        moved.steps.append(f"{name} is a {self.to} queue bound to {exchange}")
        self.say(moved.line())
        return moved

    @staticmethod
    def _delete_empty(channel, name: str) -> None:
        """Deletes a queue that nothing reaches any more once it is empty (a quorum queue takes
        no ``if-empty`` delete)."""
        left = channel.queue_declare(name, passive=True).method.message_count
        if left:
            raise MigrationError(f"{name} still holds {left} messages: run the command again")
        channel.queue_delete(name)

    # -- moving ------------------------------------------------------------------------------

    def _move(self, source: str, target: str, limit: int | None = None) -> int:
        """Moves the messages of ``source`` (at most ``limit``) into ``target``, in order, each
        acknowledged once its copy is confirmed; how many."""
        if limit == 0:
            return 0
        transfer = f"{target}.transfer"
        channel = self.connection.channel()
        channel.exchange_declare(transfer, exchange_type="topic", durable=False, auto_delete=False)
        channel.queue_bind(target, transfer, routing_key="#")
        channel.confirm_delivery()
        moved, step = 0, f"{source} -> {target}"
        depth = limit if limit is not None else channel.queue_declare(
            source, passive=True).method.message_count
        try:
            for method, properties, body in self._taken(channel, source, limit):
                # confirms are synchronous: the copy is the target's before the ack
                channel.basic_publish(transfer, method.routing_key, body,
                                      self._as_service(properties), mandatory=True)
                channel.basic_ack(method.delivery_tag)
                moved += 1
                if self.on_progress is not None:
                    self.on_progress(step, moved, max(depth, moved))
        finally:
            channel.queue_unbind(target, transfer, routing_key="#")
            channel.exchange_delete(transfer)
            if channel.is_open:
                channel.close()
        if moved:
            log.info("moved %d messages from %s to %s", moved, source, target)
            if self.on_progress is not None:
                self.on_progress(step, moved, moved)  # the source is done with
        return moved

    @staticmethod
    def _taken(channel, source: str, limit: int | None):
        """The messages of ``source`` in order: all of them (until none comes for a second), or
        the first ``limit`` one at a time, so that none is handed back: a quorum queue puts a
        message handed back behind those that arrived since."""
        if limit is not None:
            for _ in range(limit):
                method, properties, body = channel.basic_get(source)
                if method is None:
                    return
                yield method, properties, body
            return
        channel.basic_qos(prefetch_count=BATCH)
        for method, properties, body in channel.consume(source, inactivity_timeout=1.0):
            if method is None:
                break
            yield method, properties, body
        channel.cancel()

    def _as_service(self, properties: pika.BasicProperties) -> pika.BasicProperties:
        headers = dict(properties.headers or {})
        sender = properties.user_id
        if sender is not None and sender != self.user:
            headers[t.USER_ID] = sender
            properties.user_id = self.user
        properties.headers = headers or None
        properties.delivery_mode = 2
        return properties

    def _consumers(self, name: str) -> int:
        """Consumers of a queue now (the management API's figure lags by seconds)."""
        channel = self.connection.channel()
        try:
            return channel.queue_declare(name, passive=True).method.consumer_count
        except ChannelClosedByBroker as error:
            if error.reply_code == NOT_FOUND:
                return 0
            raise
        finally:
            if channel.is_open:
                channel.close()

    # -- the management API ------------------------------------------------------------------

    def _queue_info(self, name: str) -> dict | None:
        path = f"/api/queues/{quote(self.vhost, safe='')}/{quote(name, safe='')}"
        try:
            found = management_api.request(self.api, path, TIMEOUT)
        except management_api.ManagementApiError as error:
            if error.status == NOT_FOUND:
                return None
            raise MigrationError(f"the management API did not answer ({error}): the migration "
                                 "needs it (TOWNS_RABBITMQ_API)") from None
        return found if isinstance(found, dict) else None

    def _policy(self, exchange: str, alternate: str | None) -> None:
        name = f"towns-migration-{exchange}"
        path = f"/api/policies/{quote(self.vhost, safe='')}/{quote(name, safe='')}"
        try:
            if alternate is None:
                management_api.request(self.api, path, TIMEOUT, "DELETE")
            else:
                management_api.request(self.api, path, TIMEOUT, "PUT", {
                    "pattern": "^" + exchange.replace(".", r"\.") + "$", "apply-to": "exchanges",
                    "priority": POLICY_PRIORITY, "definition": {"alternate-exchange": alternate}})
        except management_api.ManagementApiError as error:
            if alternate is None and error.status == NOT_FOUND:
                return
            raise MigrationError(f"the management API refused the policy {name} ({error})") from None


def migrate(amqp_url: str, api_url: str, to: str, say: Callable[[str], None] = print,
            on_progress: Callable[[str, int, int], None] | None = None) -> list[QueueMoved]:
    migration = Migration(amqp_url, api_url, to, say, on_progress)
    try:
        return migration.run()
    except ChannelClosedByBroker as error:
        raise MigrationError(f"the broker refused a step ({error.reply_code}: {error.reply_text}); "
                             "run the command again to finish") from None
    finally:
        migration.close()
