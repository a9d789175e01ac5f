"""The consumer's work on the store (``adapters.amqp.consumer``), run in a worker thread while
the connection's thread keeps serving the connection (heartbeats, deliveries), and waiting for
the store, still serving, when it does not answer."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import pika
from eventsourcing.persistence import PersistenceError
from pika.exceptions import AMQPError


class ConsumerServing:
    """Mixed into ``Consumer``, whose state it uses: ``store_watch``, ``_stopping`` and the
    pending deliveries it prepares meanwhile (``_pending``, ``_ready``, ``_prepare_some``)."""

    def _in_background(
        self,
        connection: pika.BlockingConnection,
        work: Callable,
        *args: Any,
        meanwhile: threading.Event | None = None,
    ) -> Any:
        """Runs ``work`` (on the store) in a thread while this thread services the connection
        (``_serving``). When it fails because the store does not answer, waits for the store,
        still serving the connection (the deliveries in hand stay unacknowledged, the broker
        sees us alive), and runs it again: everything run here may be run twice."""
        while True:
            try:
                return self._serving(connection, work, *args, meanwhile=meanwhile)
            except PersistenceError:
                if not self._waited_for_store(connection):
                    raise

    def _waited_for_store(self, connection: pika.BlockingConnection) -> bool:
        """After the store failed: False when it answers (the failure is another, for the
        caller to raise) or when stopping; else True once it answers again, the wait told in
        the log (``StoreWatch.check``)."""
        waited = False
        while not self._stopping:
            if self._serving(connection, self.store_watch.check, watch=False):
                return waited
            waited = True
            end = time.monotonic() + self.store_watch.check_every
            while not self._stopping and time.monotonic() < end:
                connection.process_data_events(time_limit=min(0.2, max(0.0, end - time.monotonic())))
        return False

    def _serving(
        self,
        connection: pika.BlockingConnection,
        work: Callable,
        *args: Any,
        meanwhile: threading.Event | None = None,
        watch: bool = True,
    ) -> Any:
        """Runs ``work`` in a thread while this thread services the connection (heartbeats,
        deliveries), so that a long commit never lets the broker think we are gone. Once
        ``meanwhile`` is set (the worker waits for its commit), this thread also prepares the
        pending deliveries, a few at a time between looks at the connection. ``watch``: a long
        wait asks whether the store answers (``StoreWatch.waiting``)."""
        done = threading.Event()
        box: dict[str, Any] = {}

        def target() -> None:
            try:
                box["result"] = work(*args)
            except BaseException as error:  # noqa: BLE001 - handed back to this thread
                box["error"] = error
            finally:
                done.set()
                _wake(connection)

        worker = threading.Thread(target=target, name="towns-batch", daemon=True)
        worker.start()
        started = time.monotonic()
        try:
            while not done.is_set():
                waiting = self._ready < len(self._pending)
                if waiting and meanwhile is not None and meanwhile.is_set():
                    self._prepare_some(10)
                    connection.process_data_events(time_limit=0)
                else:
                    connection.process_data_events(time_limit=0.05)
                if watch:
                    self.store_watch.waiting(started)
        finally:
            worker.join()  # never overlap two batches, even when the connection failed
        if watch:
            self.store_watch.over("error" not in box)
        if "error" in box:
            raise box["error"]
        return box["result"]


def _wake(connection: pika.BlockingConnection) -> None:
    """Wakes the connection's event loop from another thread."""
    try:
        connection.add_callback_threadsafe(lambda: None)
    except AMQPError:
        pass  # the connection is gone; its loop notices
