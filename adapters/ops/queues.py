"""The operators' queue view (CONTRACT.md §3): ``queue_view(amqp_url, api_url, runner, records)``.

``{"source": "management_api" | "amqp", "queues": [{"name", "ready", "unacknowledged",
"consumers", "publish_rate", "deliver_rate", "ack_rate", "exists"}], "projections": [{"name",
"position", "lag", "head", "set_aside"}], "parked", "dead_letters_open", "vhost", "note"}``
(``set_aside``: events the projection could not take, set aside and not taken since)

The queues are the service's own: ``towns.inbound``, ``towns.inbound.dead`` and each dramatiq
queue with its delay (``.DQ``) and dead-letter (``.XQ``) queue, in that order. Their figures come
from RabbitMQ's management HTTP API (``TOWNS_RABBITMQ_API``), one ``GET /api/queues/{vhost}``;
rates are messages per second over the API's last sample (0.0 for a queue without traffic).
When the API does not answer, a passive ``queue.declare`` per queue tells the ready count and
the consumers; ``unacknowledged`` and the rates are then null, ``source`` is ``"amqp"`` and
``note`` says why. A queue that does not exist (dramatiq declares its queues when first used)
has ``"exists": false`` and null figures. Without ``TOWNS_AMQP_URL`` (the embedded broker) there
are no RabbitMQ queues to show: ``queues`` is empty and ``note`` says so.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any
from urllib.parse import quote, urlsplit

import pika
from dramatiq.common import dq_name, xq_name
from pika.exceptions import AMQPError, ChannelClosedByBroker

from adapters.amqp import endpoints, topology as t
from adapters.amqp.endpoints import Endpoints, close_quietly
from adapters.store.inbound_records import InboundRecords
from adapters.ops import management_api
from adapters.ops.management_api import DEFAULT_API_URL, ManagementApiError, api_url  # noqa: F401
from projections.runner import ProjectionRunner
from workers.queues import QUEUES as WORKER_QUEUES

API_TIMEOUT = 2.0  # seconds: an operator's screen must not hang on a broker in trouble
AMQP_TIMEOUT = 3.0

MANAGEMENT_API = "management_api"
AMQP = "amqp"


def service_queues() -> list[str]:
    """Every queue of the service, in the order the view lists them."""
    names = [t.QUEUE, t.DEAD_QUEUE]
    for queue in WORKER_QUEUES:
        names += [queue, dq_name(queue), xq_name(queue)]
    return names


def queue_view(
    amqp_url: str | None,
    api_url: str | None,
    runner: ProjectionRunner | None,
    records: InboundRecords,
) -> dict[str, Any]:
    """The queue view in the contract's shape (see the module's docstring)."""
    notes: list[str] = []
    if not amqp_url:
        source, queues, vhost = AMQP, [], None
        notes.append("TOWNS_AMQP_URL is not set: the embedded in-process broker has no "
                     "RabbitMQ queues to show")
    else:
        vhost = pika.URLParameters(endpoints.first(amqp_url)).virtual_host
        try:
            source, queues = MANAGEMENT_API, from_management_api(api_url or DEFAULT_API_URL, vhost)
        except ManagementApiError as error:
            notes.append(f"{error}; figures from AMQP: ready and consumers only")
            source, queues = AMQP, from_amqp(amqp_url, notes)
    projections = []
    if runner is None:
        notes.append("no projection runner in this process: projections not shown")
    else:
        projections = [{"name": s.name, "position": s.position, "lag": s.lag, "head": s.head,
                        "set_aside": s.set_aside} for s in runner.status()]
    return {
        "source": source,
        "queues": queues,
        "projections": projections,
        "parked": len(records.open_parked()),
        "dead_letters_open": len(records.dead_letters(open_only=True)),
        "vhost": vhost,
        "note": "; ".join(notes) or None,
    }


# -- the management API -----------------------------------------------------------------------


def from_management_api(url: str, vhost: str, timeout: float = API_TIMEOUT) -> list[dict]:
    """The service's queues as ``GET /api/queues/{vhost}`` describes them."""
    listed = {q.get("name"): q for q in _get_json(url, f"/api/queues/{quote(vhost, safe='')}", timeout)}
    return [_from_api(name, listed.get(name)) for name in service_queues()]


def _from_api(name: str, queue: dict | None) -> dict:
    if queue is None:
        return _row(name, exists=False)
    stats = queue.get("message_stats") or {}
    return _row(
        name,
        ready=queue.get("messages_ready"),
        unacknowledged=queue.get("messages_unacknowledged"),
        consumers=queue.get("consumers"),
        publish_rate=_rate(stats, "publish_details"),
        deliver_rate=_rate(stats, "deliver_get_details"),
        ack_rate=_rate(stats, "ack_details"),
    )


def _rate(stats: dict, key: str) -> float:
    # No such key: the queue has seen no traffic of that kind in the API's sample.
    return float((stats.get(key) or {}).get("rate") or 0.0)


def _get_json(url: str, path: str, timeout: float) -> Any:
    value = management_api.request(url, path, timeout)
    if not isinstance(value, list):
        where = urlsplit(url).netloc.rpartition("@")[2]
        raise ManagementApiError(f"the management API at {where} answered no list of queues")
    return value


# -- AMQP, when the API does not answer ------------------------------------------------------


def from_amqp(url: str, notes: list[str], timeout: float = AMQP_TIMEOUT) -> list[dict]:
    """Ready count and consumers of each queue by a passive ``queue.declare``; the rest null."""
    def configure(parameters: pika.URLParameters) -> None:
        parameters.socket_timeout = timeout
        parameters.connection_attempts = 1
        parameters.blocked_connection_timeout = timeout

    try:
        connection = Endpoints(url, configure).connect()
    except (AMQPError, OSError) as error:
        notes.append(f"RabbitMQ did not answer over AMQP either ({_reason(error)})")
        return [_row(name, exists=None) for name in service_queues()]
    try:
        return list(_declared(connection, service_queues()))
    except (AMQPError, OSError) as error:
        notes.append(f"RabbitMQ failed over AMQP ({_reason(error)})")
        return [_row(name, exists=None) for name in service_queues()]
    finally:
        close_quietly(connection)


def _declared(connection: pika.BlockingConnection, names: Iterable[str]) -> Iterable[dict]:
    channel = connection.channel()
    for name in names:
        try:
            ok = channel.queue_declare(name, passive=True).method
        except ChannelClosedByBroker:  # 404: no such queue; the broker closed the channel
            channel = connection.channel()
            yield _row(name, exists=False)
            continue
        yield _row(name, ready=ok.message_count, consumers=ok.consumer_count)
    channel.close()


def _row(name: str, exists: bool | None = True, ready: int | None = None,
         unacknowledged: int | None = None, consumers: int | None = None,
         publish_rate: float | None = None, deliver_rate: float | None = None,
         ack_rate: float | None = None) -> dict:
    return {"name": name, "ready": ready, "unacknowledged": unacknowledged, "consumers": consumers,
            "publish_rate": publish_rate, "deliver_rate": deliver_rate, "ack_rate": ack_rate,
            "exists": exists}


def _reason(error: BaseException) -> str:
    return str(error) or type(error).__name__
