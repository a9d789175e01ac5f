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
from typing import Any, NamedTuple

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


class Page(NamedTuple):
    """Records of the whole log (every topic) after a position, with no gap: every event from
    there up to ``covered`` is in ``records``. ``full``: the page reached its limit, so the log
    may go on past ``covered``; else ``covered`` is at least the head as it was read before the
    page, and the page holds every event up to it."""

    records: list[Recorded]
    covered: int
    full: bool


class ReadAhead:
    """Pages of the whole log for the projections that read the stored bytes, read once and
    given to each of them:

    - shared: the views step in turn from the same position (``project_all``), so the last
      pages read are kept (``KEEP``) and given again to a view at the same position where they
      answer it: a full page (cut to the view's size), or a short one that covers the head the
      view read first. Commit order is notification order, so whatever a page holds up to its
      ``covered`` is all there is there, for as long as the log lasts;
    - read ahead: having given a full page, it reads the page after it in a thread while the
      caller applies that one, so a view catching up waits for the log only when it is ahead of
      the reading. A page read ahead is given only when it is full (the same records as a read
      then). Only where the reader is the lean one (PostgreSQL, whose connections are shared
      between threads by a pool)."""

    def __init__(self, reader: LogReader) -> None:
        self.reader = reader
        self._lock = threading.Lock()
        self._ahead: dict[tuple[int, int], Future] = {}
        self._kept: dict[int, Page] = {}
        self._pool: ThreadPoolExecutor | None = None

    def page(self, position: int, limit: int, head: int) -> Page:
        """The page of at most ``limit`` records after ``position``; ``head``: the log's head,
        read before this call."""
        with self._lock:
            kept = self._kept.get(position)
            ahead = self._ahead.pop((position, limit), None)
        if kept is not None and (answer := _answer(kept, limit, head)) is not None:
            return answer
        found = None
        if ahead is not None:
            try:
                found = ahead.result()
            except Exception:  # noqa: BLE001 - read again now, and let that one say why
                found = None
            if found is not None and len(found) != limit:
                found = None
        if found is None:
            found = self.reader.after(position, limit)
        full = len(found) == limit
        last = found[-1].position if found else position
        page = Page(found, last if full else max(last, head), full)
        if len(found) <= KEEP_RECORDS:
            with self._lock:
                self._kept.pop(position, None)
                if len(self._kept) >= KEEP:
                    self._kept.pop(next(iter(self._kept)))
                self._kept[position] = page
        if self.reader.lean and full:
            self._read(last, limit)
        return page._replace(records=list(found))  # the caller's list, the kept one unchanged

    def forget(self) -> None:
        """Lets go of the pages kept and read ahead: what is read next is read from the log
        (a rebuild, which may follow a repair of stored bytes in place)."""
        with self._lock:
            self._kept.clear()
            self._ahead.clear()

    def _read(self, position: int, limit: int) -> None:
        with self._lock:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(1, thread_name_prefix="towns-read-ahead")
            if len(self._ahead) >= KEEP_AHEAD:  # pages nobody asked for: forget the oldest
                self._ahead.pop(next(iter(self._ahead)))
            self._ahead[(position, limit)] = self._pool.submit(self.reader.after, position,
                                                                limit)


def _answer(kept: Page, limit: int, head: int) -> Page | None:
    """What ``kept`` gives a view asking for ``limit`` records with the head at ``head``, or
    None (a read it cannot answer: smaller than asked, or short of the head)."""
    records = kept.records
    if len(records) >= limit:  # a full page, as long as asked or longer: its beginning
        records = records[:limit]
        return Page(records, records[-1].position, True)
    if not kept.full and kept.covered >= head:
        return Page(list(records), kept.covered, False)
    return None


KEEP_AHEAD = 8
KEEP = 2
"""Pages kept to be given again: the views of one pass read the same page."""
KEEP_RECORDS = 1000
"""The longest page kept (the views' own size; the audit trail's longer pages are its own), so
that what is kept stays small beside the worker's memory."""
