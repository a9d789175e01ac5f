"""Reading the notification log for the projections.

On PostgreSQL the runner reads the events table with a leaner query than the library's
``select_notifications`` (the same rows, in the same order, with the same conditions): plain
tuples instead of dict rows turned into ``Notification`` objects, the originator id as text
instead of a ``UUID`` that every projection turns back into text. The table is the library's
(eventsourcing 9.5.6, pinned: its on-disk format is part of our data). Projections that decode
events, and other stores, read through ``select_notifications``.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from eventsourcing.persistence import InterfaceError, OperationalError
from eventsourcing.postgres import PostgresApplicationRecorder
from eventsourcing.utils import retry
from psycopg.rows import tuple_row
from psycopg.sql import SQL, Identifier

from projections.base import Recorded


class LogReader:
    """Reads notifications after a position as ``Recorded`` (``event`` None)."""

    def __init__(self, recorder: Any) -> None:
        self.recorder = recorder
        self.lean = isinstance(recorder, PostgresApplicationRecorder)
        if self.lean:
            select = SQL(
                "SELECT notification_id, topic, state, originator_id::text, originator_version "
                "FROM {schema}.{table} WHERE notification_id > %s"
            ).format(schema=Identifier(recorder.datastore.schema),
                     table=Identifier(recorder.events_table_name))
            order = SQL(" ORDER BY notification_id LIMIT %s")
            self._all = select + order
            self._some = select + SQL(" AND topic = ANY(%s)") + order

    def after(self, position: int, limit: int, topics: Sequence[str] = ()) -> list[Recorded]:
        if not self.lean:
            return [Recorded(n.id, n.topic, None, n.state, n.originator_id, n.originator_version)
                    for n in self.recorder.select_notifications(
                        start=position, limit=limit, topics=topics, inclusive_of_start=False)]
        return [Recorded(i, t, None, s, o, v) for i, t, s, o, v in self._rows(position, limit,
                                                                               topics)]

    @retry((InterfaceError, OperationalError), max_attempts=10, wait=0.2)
    def _rows(self, position: int, limit: int, topics: Sequence[str]) -> list[tuple]:
        statement, params = ((self._some, (position, list(topics), limit)) if topics
                             else (self._all, (position, limit)))
        with self.recorder.datastore.get_connection() as conn, \
                conn.cursor(row_factory=tuple_row) as curs:
            curs.execute(statement, params, prepare=True)
            return curs.fetchall()


class ReadAhead:
    """A ``LogReader`` that, having given a full page, reads the page after it in a thread
    while the caller applies that one: a projection catching up then waits for the log only
    when it is ahead of the reading. A page read ahead is given only when it is full: commit
    order is notification order, so every record up to its last was committed when it was
    read, and a later read of the same page gives the same records. Only where the reader is
    the lean one (PostgreSQL, whose connections are shared between threads by a pool)."""

    def __init__(self, reader: LogReader) -> None:
        self.reader = reader
        self._lock = threading.Lock()
        self._ahead: dict[tuple, Future] = {}
        self._pool: ThreadPoolExecutor | None = None

    def after(self, position: int, limit: int, topics: Sequence[str] = ()) -> list[Recorded]:
        key = (position, limit, tuple(topics))
        with self._lock:
            ahead = self._ahead.pop(key, None)
        found = None
        if ahead is not None:
            try:
                found = ahead.result()
            except Exception:  # noqa: BLE001 - read again now, and let that one say why
                found = None
            if found is not None and len(found) != limit:
                found = None
        if found is None:
            found = self.reader.after(position, limit, topics)
        if self.reader.lean and len(found) == limit:
            self._read(found[-1].position, limit, tuple(topics))
        return found

    def _read(self, position: int, limit: int, topics: tuple) -> None:
        with self._lock:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(1, thread_name_prefix="towns-read-ahead")
            if len(self._ahead) >= KEEP_AHEAD:  # pages nobody asked for: forget the oldest
                self._ahead.pop(next(iter(self._ahead)))
            self._ahead[(position, limit, topics)] = self._pool.submit(
                self.reader.after, position, limit, topics)


KEEP_AHEAD = 8
