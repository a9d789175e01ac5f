"""Prometheus metrics (``GET /metrics``; ``TOWNS_METRICS_PORT`` for the other processes).

Counted where it happens, in prometheus_client's default registry of the process:

- ``towns_ingest_messages_total{type, outcome, code}``: each message of the ingest path (HTTP,
  RabbitMQ, the demo) once, by its final outcome: ``outcome`` applied, duplicate or refused,
  ``code`` the contract's error code or ``none``; ``type`` one of the contract's types, else
  ``other`` (a label per unknown upstream string would grow without bound). Over RabbitMQ a
  message that may only be early counts ``parked`` (with the code it was refused with) when it
  is parked, and then once more where it ends: applied, or refused when it is dead-lettered.
- ``towns_ingest_retries_total{type, result}``: each retry of a parked message, ``result``
  applied, duplicate, parked (still early: it waits on) or refused (dead-lettered now).
- ``towns_consumer_batch_size`` and ``towns_consumer_commit_seconds`` (histograms): each group
  commit of ``towns consume``: deliveries in it, and the seconds to apply and save them.
- ``towns_deadline_checks_total{call_id, outcome}``: deadline checks run by the workers'
  actor, ``outcome`` due (it ran) or not_due.
- ``towns_dead_letter_sends_failed_total{reason}``: sends of a dead letter the broker did not
  confirm: ``reason`` nacked, returned (unroutable), channel_closed or connection_closed;
- ``towns_dead_letters_unpublished_total``: dead letters given up after their last send failed
  too: acknowledged, in the database only (``published: false``), for an operator to re-drive.
- ``towns_ingest_replies_total{result}``: replies to a RabbitMQ message's ``reply_to``
  (``adapters.amqp.replies``): ``result`` confirmed, returned (no such queue), nacked,
  unconfirmed (not confirmed within the wait), channel_closed, connection_closed (the replies'
  own connection closed, or could not be opened, before the confirm), unsendable, or
  invalid_reply_to (the ``reply_to`` was refused, or made the broker close the replies'
  connection before: nothing published).

Read at scrape time from the store (``scrape_registry``), by ``GET /metrics`` only:

- ``towns_projection_lag{projection}``, ``towns_projection_position{projection}``;
- ``towns_projection_set_aside{projection}``: events the projection could not take, set aside
  and not taken since (``towns projections set-aside`` lists them);
- ``towns_dead_letters_open``, ``towns_parked_messages``;
- ``towns_store_up``: 1 when those could be read, 0 otherwise (the others are then left out).

``towns consume`` and ``towns worker`` count in processes of their own: with
``TOWNS_METRICS_PORT`` set they serve their registry on that port (``TOWNS_METRICS_HOST``,
default 127.0.0.1), see ``serve_from_env``.
"""

from __future__ import annotations

import json
import logging
import os
from typing import Any

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client import generate_latest, start_http_server

from domain.lifecycle import EVENT_TYPES

log = logging.getLogger("towns.metrics")

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
KNOWN_TYPES = frozenset(EVENT_TYPES)

INGESTED = Counter(
    "towns_ingest_messages", "Results of the ingest path, by envelope type, outcome and code.",
    ["type", "outcome", "code"],
)
RETRIES = Counter(
    "towns_ingest_retries", "Retries of parked messages, by envelope type and result.",
    ["type", "result"],
)
BATCH_SIZE = Histogram(
    "towns_consumer_batch_size", "Deliveries per group commit of the RabbitMQ consumer.",
    buckets=(1, 2, 5, 10, 20, 50, 100, 200, 500, 1000),
)
COMMIT_SECONDS = Histogram(
    "towns_consumer_commit_seconds", "Seconds to apply and save one batch of the consumer.",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
DEAD_LETTER_SENDS_FAILED = Counter(
    "towns_dead_letter_sends_failed", "Sends of a dead letter the broker did not confirm, by reason.",
    ["reason"],
)
DEAD_LETTERS_UNPUBLISHED = Counter(
    "towns_dead_letters_unpublished",
    "Dead letters never confirmed by the broker: recorded in the database only.",
)
REPLIES = Counter(
    "towns_ingest_replies", "Replies to the reply_to of RabbitMQ messages, by result.", ["result"],
)
DEADLINE_CHECKS = Counter(
    "towns_deadline_checks", "Deadline checks run by the workers, by call and outcome.",
    ["call_id", "outcome"],
)


# -- counting -------------------------------------------------------------------------------


def ingested(subject: Any, result: Any, outcome: str | None = None) -> Any:
    """Counts one result of the ingest path and returns it. ``subject`` is the command (which
    knows its type) or, for a message refused before it became one, the raw body; ``outcome``
    overrides the one ``result`` gives (``parked``: a refusal that may only be early)."""
    code = getattr(result, "code", None) or "none"
    labels = (_type_of(subject), outcome or _outcome(result), code)
    counter = _INGESTED_CHILDREN.get(labels)
    if counter is None:
        counter = _INGESTED_CHILDREN[labels] = INGESTED.labels(*labels)
    counter.inc()
    return result


def parked(subject: Any, error: Any) -> None:
    """A message parked to wait for its predecessor (``error``: the refusal that parked it)."""
    ingested(subject, error, "parked")


def retried(subject: Any, result: Any, early: bool) -> None:
    """One retry of a parked message; ``early``: its refusal leaves it parked."""
    RETRIES.labels(_type_of(subject), "parked" if early else _outcome(result)).inc()


def _outcome(result: Any) -> str:
    if getattr(result, "code", None) is not None:
        return "refused"
    return "duplicate" if getattr(result, "duplicate", False) else "applied"


_INGESTED_CHILDREN: dict[tuple[str, str, str], Any] = {}
"""The counters of ``INGESTED`` by their labels (a bounded set): ``labels()`` takes a lock and
builds a key on every call, which costs more than the count."""


def batch_committed(size: int, seconds: float) -> None:
    BATCH_SIZE.observe(size)
    COMMIT_SECONDS.observe(seconds)


def dead_letter_not_confirmed(reason: str) -> None:
    DEAD_LETTER_SENDS_FAILED.labels(reason).inc()


def dead_letter_given_up() -> None:
    DEAD_LETTERS_UNPUBLISHED.inc()


def replied(result: str, count: int = 1) -> None:
    """``count`` replies to ``reply_to`` ended as ``result`` (``adapters.amqp.reply_results``)."""
    REPLIES.labels(result).inc(count)


def deadline_checked(call_id: str, due: bool) -> None:
    DEADLINE_CHECKS.labels(call_id, "due" if due else "not_due").inc()


def _type_of(subject: Any) -> str:
    """The ``type`` label: one of the contract's types, else ``other`` (also for a type that is
    no string: a list or an object cannot even be looked up), or ``unparsed``."""
    kind = getattr(subject, "type", None)
    if kind is None and isinstance(subject, (bytes, bytearray)):
        if len(subject) > MAX_PARSED_BYTES:  # refused as too large: not worth reading
            return "unparsed"
        try:  # a refused message only: the accepted ones arrive as commands
            value = json.loads(subject)
        except (ValueError, RecursionError):
            return "unparsed"
        kind = value.get("type") if isinstance(value, dict) else None
    return kind if type(kind) is str and kind in KNOWN_TYPES else "other"


MAX_PARSED_BYTES = 256 * 1024
"""The ingest path's own limit on a message (``adapters.inbound.ingest.MAX_MESSAGE_BYTES``): a larger
refused body over RabbitMQ is not parsed again only to be counted."""


# -- exposition -----------------------------------------------------------------------------


def scrape_registry(runner, records) -> CollectorRegistry:
    """A registry of the figures read from the store now (projections, dead letters, parked)."""
    registry = CollectorRegistry(auto_describe=True)
    up = Gauge("towns_store_up", "1 when the store could be read for this scrape.", registry=registry)
    try:
        statuses = runner.status() if runner is not None else []
        dead = len(records.dead_letters(open_only=True))
        parked = len(records.open_parked())
    except Exception:  # noqa: BLE001 - a scrape reports a sick store, it does not fail
        log.warning("metrics: the store cannot be read", exc_info=True)
        up.set(0)
        return registry
    up.set(1)
    lag = Gauge("towns_projection_lag", "Events of the log a projection has not read yet.",
                ["projection"], registry=registry)
    position = Gauge("towns_projection_position", "The log position a projection has read to.",
                     ["projection"], registry=registry)
    aside = Gauge("towns_projection_set_aside",
                  "Events a projection could not take, set aside and not taken since.",
                  ["projection"], registry=registry)
    for status in statuses:
        lag.labels(status.name).set(status.lag)
        position.labels(status.name).set(status.position)
        aside.labels(status.name).set(status.set_aside)
    Gauge("towns_dead_letters_open", "Dead letters not re-driven since last dead-lettered.",
          registry=registry).set(dead)
    Gauge("towns_parked_messages", "Messages parked, waiting for their predecessor.",
          registry=registry).set(parked)
    return registry


def exposition(runner, records) -> bytes:
    """This process's counters and histograms, then the figures read from the store now."""
    return generate_latest(REGISTRY) + generate_latest(scrape_registry(runner, records))


def serve_from_env() -> int | None:
    """Serves this process's registry on ``TOWNS_METRICS_PORT`` when it is set; the port."""
    port = os.environ.get("TOWNS_METRICS_PORT")
    if not port:
        return None
    host = os.environ.get("TOWNS_METRICS_HOST") or "127.0.0.1"
    try:
        start_http_server(int(port), addr=host)
    except (ValueError, OSError) as error:
        raise MetricsServerError(f"cannot serve metrics on {host}:{port}: {error}") from None
    log.info("metrics on http://%s:%s/metrics", host, port)
    return int(port)


class MetricsServerError(Exception):
    """``TOWNS_METRICS_PORT`` cannot be served; the message says why in one line."""
