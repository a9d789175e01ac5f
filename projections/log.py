"""Reading the notification log for the projections.

On PostgreSQL the runner reads the events table with a leaner query than the library's
``select_notifications`` (the same rows, in the same order, with the same conditions): plain
tuples instead of dict rows turned into ``Notification`` objects, the originator id as text
instead of a ``UUID`` that every projection turns back into text. The table is the library's
(eventsourcing 9.5.6, pinned: its on-disk format is part of our data). Projections that decode
events, and other stores, read through ``select_notifications``.
"""

from __future__ import annotations

from collections.abc import Sequence
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
