"""The composition root: reads configuration and builds the application service on its store
(``build_towns``), and the runtime of a process around it (``build_runtime``: views, projection
runner, broker, deadline schedule, evidence, workers), handing each part what it works with.

The CLI, the servers, the workers and the tests all build through here; nothing connects to a
service when a module is imported. Build order matters (see ``workers.broker``): the broker is
set, and the actors bound to it, before anything sends; the actors' context is installed before
a worker starts consuming. One runtime per process at a time: dramatiq has one global broker,
the actors one context.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

import dramatiq
from dramatiq.common import dq_name

from adapters.amqp import shutdown
from adapters.amqp.backlog import backlog_probe
from adapters.audit.evidence.actions import record_start
from adapters.audit.evidence.checkpoints import Cadence, Checkpoints, setup_heads
from adapters.audit.evidence.heads import Signer
from adapters.audit.evidence.witnesses import Witnesses
from adapters.config import Config, ConfigError, load_config
from adapters.ops import metrics
from adapters.store.saving import StoreTowns
from adapters.store.settings import (  # noqa: F401 - the root's, for its callers
    DEFAULT_DATABASE_URL, DatabaseUrlError, database_url, database_url_of, library_settings,
    store_settings)
from adapters.store.tables import create_tables
from domain.service import Towns
from projections import registry
from projections.audit import AuditTrail
from projections.base import Projection
from projections.runner import ProjectionRunner
from projections.store import ViewStore
from workers import context, failures
from workers.broker import QUEUES, is_embedded, setup_broker, start_worker
from workers.catch_up import BacklogWait, wait_from_env
from workers.deadlines import DeadlineSchedule
from workers.nudges import Nudger

log = logging.getLogger("towns")
STOP_TIMEOUT_MS = 30_000


def build_towns(
    config: Config | None = None, url: str | None = None, on_commit: Callable[[], object] | None = None
) -> Towns:
    """The application service on the configured store; ``on_commit`` is called after every
    transaction that recorded events (from whichever thread committed)."""
    config = config or load_config()
    settings = store_settings(url or database_url())
    if on_commit is None:
        return StoreTowns(config.calls, env=settings)
    towns = _ReportingTowns(config.calls, env=settings)
    towns.on_commit = on_commit
    return towns


class _ReportingTowns(StoreTowns):
    """``Towns`` that reports each commit, through eventsourcing's hook for subclasses
    (``_notify``, called after every save)."""

    name = Towns.name  # eventsourcing names tables and settings after the class otherwise
    on_commit: Callable[[], object]

    def _notify(self, recordings) -> None:
        super()._notify(recordings)
        self.on_commit()


def build_runtime(
    config: Config | None = None,
    url: str | None = None,
    amqp_url: str | None = None,
    *,
    consume: bool | None = None,
    threads: int = 1,
    process: str | None = None,
):
    """Everything a process needs to run the service with its workers (``Runtime``).

    ``amqp_url`` None is the embedded default: an in-process broker, always consumed by a
    worker thread of this process. With RabbitMQ, this process consumes the actors' queues
    only when ``consume`` is true (``towns worker``); the others only send. ``process`` names
    the command starting: its configuration (and signing key) is recorded in the log when it
    differs from the last one recorded (``adapters.audit.evidence.actions``).
    """
    config = config or load_config()
    return build(config, url or database_url(), amqp_url, consume, threads, process)


def projections() -> list[Projection]:
    """Every read model the runner keeps (``projections.registry``)."""
    return registry.projections()


@dataclass
class Runtime:
    towns: Towns
    store: ViewStore
    runner: ProjectionRunner
    broker: dramatiq.Broker
    schedule: DeadlineSchedule
    nudger: Nudger
    installed: context.Context  # what the actors of this process work on
    worker: dramatiq.Worker | None = None
    amqp_url: str | None = None

    @property
    def embedded(self) -> bool:
        return is_embedded(self.broker)

    def nudge(self) -> None:
        """The projections should catch up (entry points call it after a commit; the service
        built here already does after each of its own)."""
        self.nudger.nudge()

    def drain(self, timeout: float = 120.0) -> None:
        """Embedded only: sends a catch-up nudge and waits until the in-process worker has done
        everything, including the nudges that its own work caused."""
        from workers.actors import project_all

        if not self.embedded or self.worker is None:
            raise RuntimeError("only the embedded runtime's own worker can be drained")
        end = time.monotonic() + timeout
        project_all.send()
        while True:
            for queue in QUEUES:
                self.broker.join(queue, timeout=max(1, int((end - time.monotonic()) * 1000)))
            self.worker.join()
            self.nudger.flush()  # a nudge sent by the nudge thread meanwhile is queued by now
            queued = [self.broker.queues[q] for name in QUEUES for q in (name, dq_name(name))]
            if not any(q.unfinished_tasks for q in queued):
                return

    def catch_up(self) -> BacklogWait:
        """What holds the worker's catch-up deadline check until the inbound backlog is
        applied (``workers.catch_up``), at most ``TOWNS_CATCH_UP_WAIT`` seconds."""
        try:
            wait = wait_from_env()
        except ValueError as error:
            raise ConfigError(str(error)) from None
        return BacklogWait(backlog_probe(self.amqp_url, self.towns), wait)

    def sign_head(self) -> None:
        """A tree head over everything the audit view holds now, signed and witnessed."""
        if self.installed.evidence is not None:
            self.runner.catch_up(AuditTrail.name)
            self.installed.evidence.sign_if_due(force=True)

    def close(self) -> None:
        """Stops the worker (messages in hand finish), sends a pending nudge, closes it all, in
        that order; pika's and dramatiq's reports of the stop are not logged (``shutdown``)."""
        self.installed.stopping.set()
        with shutdown.quiet():
            if not self.embedded:
                self.nudger.close()  # this process's last commits still reach the workers
            if self.worker is not None:
                self.worker.stop(timeout=STOP_TIMEOUT_MS)
            if self.embedded:
                self.nudger.close()
            self.broker.close()
        context.uninstall(self.installed)
        self.store.close()
        self.towns.close()


def build_runner(towns: Towns, url: str) -> ProjectionRunner:
    """The views' store and the runner of every projection, their tables created."""
    runner = ProjectionRunner(towns, ViewStore(url), projections())
    create_tables(runner.setup)
    create_tables(lambda: setup_heads(runner.store))
    return runner


def build(config: Config, url: str, amqp_url: str | None, consume: bool | None,
          threads: int, process: str | None = None) -> Runtime:
    broker = setup_broker(amqp_url)
    from workers import actors  # bound to ``broker`` by setup_broker

    nudger = Nudger(actors.project_all.send)
    towns = create_tables(lambda: build_towns(config, url, on_commit=nudger.nudge))  # creates its tables
    runner = build_runner(towns, url)
    store = runner.store
    schedule = DeadlineSchedule(store, actors.check_deadline.send)
    create_tables(lambda: (failures.setup(store), schedule.setup(), schedule.plan(config.calls.values())))
    evidence = Checkpoints(store, Signer.from_env(), Witnesses.from_env(amqp_url),
                           Cadence.from_env())
    if process is not None:
        recorded = record_start(towns, config, evidence.signer, process)
        if recorded:
            log.info("%s: recorded in the log: %s", process, ", ".join(recorded))
    installed = context.install(towns, runner, store, schedule, evidence,
                                on_deadline_checked=metrics.deadline_checked)
    runtime = Runtime(towns, store, runner, broker, schedule, nudger, installed, amqp_url=amqp_url)
    if consume or (consume is None and runtime.embedded):
        runtime.worker = start_worker(broker, threads)
    return runtime
