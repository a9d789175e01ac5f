"""The runtime of a process, built by the composition root (``bootstrap.build_runtime``): the
application service, the views and their runner, the dramatiq broker and the actors' context,
the deadline schedule, the nudges, and (when this process consumes) a dramatiq worker.

Build order matters (see ``workers.broker``): the broker is set, and the actors bound to it,
before anything sends; the actors' context is installed before a worker starts consuming.
One runtime per process at a time: dramatiq has one global broker, the actors one context.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

import dramatiq
from dramatiq.common import dq_name

from adapters.config import Config
from adapters.audit.evidence.actions import record_start
from adapters.audit.evidence.checkpoints import Cadence, Checkpoints, setup_heads
from adapters.audit.evidence.heads import Signer
from adapters.audit.evidence.witnesses import Witnesses
from domain.service import Towns
from projections import registry
from projections.audit import AuditTrail
from projections.base import Projection
from projections.runner import ProjectionRunner
from projections.store import ViewStore
from workers import context, failures
from workers.broker import QUEUES, is_embedded, setup_broker, start_worker
from workers.deadlines import DeadlineSchedule
from workers.nudges import Nudger

T = TypeVar("T")
log = logging.getLogger("towns")
STOP_TIMEOUT_MS = 30_000
RACES = ("UniqueViolation", "DuplicateTable", "DuplicateObject")  # psycopg's, by name
RACE_TEXTS = ("concurrently updated", "pg_type_typname_nsp_index")  # as eventsourcing wraps them


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

    def sign_head(self) -> None:
        """A tree head over everything the audit view holds now, signed and witnessed."""
        if self.installed.evidence is not None:
            self.runner.catch_up(AuditTrail.name)
            self.installed.evidence.sign_if_due(force=True)

    def close(self) -> None:
        """Stops the worker (messages in hand finish), sends a pending nudge, closes it all."""
        self.installed.stopping.set()
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
    _setup(runner.setup)
    _setup(lambda: setup_heads(runner.store))
    return runner


def _setup(create: Callable[[], T], attempts: int = 5) -> T:
    """Creates tables; PostgreSQL lets two processes racing on CREATE TABLE IF NOT EXISTS
    fail one of them (a unique violation in its catalogue, or "tuple concurrently updated"),
    which a second try passes."""
    for attempt in range(attempts):
        try:
            return create()
        except Exception as error:
            racing = type(error).__name__ in RACES or any(t in str(error) for t in RACE_TEXTS)
            if not racing or attempt == attempts - 1:
                raise
            time.sleep(0.2 * (attempt + 1))
    raise AssertionError("unreachable")


def build(config: Config, url: str, amqp_url: str | None, consume: bool | None,
          threads: int, process: str | None = None) -> Runtime:
    from adapters.bootstrap import build_towns

    broker = setup_broker(amqp_url)
    from workers import actors  # bound to ``broker`` by setup_broker

    nudger = Nudger(actors.project_all.send)
    towns = _setup(lambda: build_towns(config, url, on_commit=nudger.nudge))  # creates its tables
    runner = build_runner(towns, url)
    store = runner.store
    schedule = DeadlineSchedule(store, actors.check_deadline.send)
    _setup(lambda: (failures.setup(store), schedule.setup(), schedule.plan(config.calls.values())))
    evidence = Checkpoints(store, Signer.from_env(), Witnesses.from_env(amqp_url),
                           Cadence.from_env())
    if process is not None:
        recorded = record_start(towns, config, evidence.signer, process)
        if recorded:
            log.info("%s: recorded in the log: %s", process, ", ".join(recorded))
    installed = context.install(towns, runner, store, schedule, evidence)
    runtime = Runtime(towns, store, runner, broker, schedule, nudger, installed)
    if consume or (consume is None and runtime.embedded):
        runtime.worker = start_worker(broker, threads)
    return runtime
