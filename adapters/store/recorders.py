"""The service's PostgreSQL event recorder: eventsourcing 9.5.6's own, with five changes, and
its factory with two settings more (the recorder on SQLite: ``adapters.store.sqlite_recorder``).

**Saves on condition.** ``insert_events(events, absent=[ids])`` records the events only if
none of the aggregates ``absent`` names has any event, and otherwise raises
``domain.work.PresentAggregate`` (an ``IntegrityError``) and records nothing. The condition is
checked under the store's write lock (the writers' lock below, SQLite's write transaction), in
the same statement or transaction as the insert, so nothing recorded meanwhile can slip past it.
The service uses it to save a submission on condition that the call's deadline check has still
not run, instead of reading the check before every submission.

**Log positions.** ``position_of(id, version)`` is one stored event's notification id: the
order in which events became visible, which their timestamps (taken before the commit) need
not follow.

**Reads of many aggregates at once.** ``select_events_of(ids)`` gives the stored events of
every aggregate named, ordered by aggregate and version, in one query (``first_only``: only
their first events); the deadline check loads its candidates with it, a chunk at a time, and an
applicant's lists read the owners of a page's applications, instead of one or two queries each.
On PostgreSQL these and a whole history (``select_events`` without bounds: reading or replaying
an application) are read as plain tuples by statements composed once.

**PostgreSQL: connections checked before use, cheaply.** With ``POSTGRES_PRE_PING`` (on, see
``adapters.bootstrap``) the pool checks each connection before lending it, so that those a
restart of the server dropped are replaced instead of failing a request; ``loan_check``
pays the check's round trip only for a connection that heard from its server while idle.

**PostgreSQL: binary arrays.** The library sends a transaction's events as one array of a
composite type, which psycopg can only write as text: every state is hex-encoded and escaped by
regular expressions in Python, which costs more than the rest of a small save. Here the same four
columns go as binary arrays to the same ``INSERT … SELECT FROM unnest(…)``, with everything the
library does around it kept: a lock that makes commit order equal notification order (below),
the NOTIFY, the returned notification ids, the unique key that refuses a second event at a
version. The rows written are byte for byte those the library writes.

**PostgreSQL: the writers' lock, not the table's.** The library makes commit order equal
notification order (so that a reader tailing the log never passes a gap filled later) by
locking the events table in EXCLUSIVE mode in every transaction that stores events. That mode also conflicts with the
lock every VACUUM and ANALYZE of the table holds: under steady ingest each autovacuum of the
table held the writers until it was cancelled (``deadlock_timeout``), so it seldom finished,
and the one that prevents transaction ID wraparound, which is never cancelled, would hold them
for as long as it ran. Here every writer takes a transaction-scoped advisory lock of its own
table (``writers_lock_key``) instead, in the same place: writers are serialised as before, the
condition of a save on condition is read under it as before, and vacuum and analysis pass by.
Released at the end of the transaction, after its commit is visible, like the table lock. A
writer that still takes the table lock (the library's own recorder, a process of an earlier
release during an upgrade) is serialised with these too: its lock and the ROW EXCLUSIVE lock
that each of their inserts takes wait for each other.

**PostgreSQL: target_session_attrs, and reconnecting soon.** 9.5.6 hands its pool's
connections host, port, database, user and password only. ``PostgresFactory`` (``store_settings``
names it as the persistence module) adds libpq's ``target_session_attrs`` from the setting
``POSTGRES_TARGET_SESSION_ATTRS`` (the URL's parameter, ``adapters.store.settings``), so that
with several hosts every pooled connection goes to the one that takes writes: after a failover,
the promoted standby. It also shortens the pool's ``reconnect_timeout`` (psycopg_pool's 5
minutes): a lost connection is tried again with a doubling back-off for that long, so after an
outage of a minute the pool would wait up to another minute for its next try while the server
answered again; given up after ``RECONNECT_SECONDS``, the pool connects anew as soon as a request
waits for a connection.
"""

from __future__ import annotations

import select
import weakref
from collections.abc import Callable, Sequence
from typing import Any
from uuid import UUID

from eventsourcing import postgres
from eventsourcing.persistence import InterfaceError, OperationalError, StoredEvent
from eventsourcing.postgres import PostgresApplicationRecorder, PostgresDatastore
from eventsourcing.utils import retry
from psycopg import Cursor
from psycopg.rows import DictRow, tuple_row
from psycopg.sql import SQL, Identifier
from psycopg_pool import ConnectionPool

from domain.work import PresentAggregate
from projections.tx import advisory_key


def loan_check(pool: ConnectionPool) -> Callable[[Any], None]:
    """The pool's check of a connection before it lends it (``POSTGRES_PRE_PING``), with a
    round trip only where one is needed: a connection whose server said something while it sat
    idle in the pool (a terminated backend's last word, a closed socket: what a restart leaves)
    is pinged as psycopg_pool does; one that heard nothing is lent as it is, without the empty
    query every loan would otherwise cost. A connection found dead means the server most likely
    dropped them all: every idle one is checked at once and the dead replaced, instead of the
    pool finding them one loan at a time, a second's back-off more each."""
    lender = weakref.ref(pool)

    def check(conn: Any) -> None:
        if not conn.closed and not select.select([conn.fileno()], [], [], 0)[0]:
            return
        try:
            ConnectionPool.check_connection(conn)
        except Exception:
            if (idle := lender()) is not None:
                idle.check()
            raise

    return check


def writers_lock_key(schema: str, table: str) -> int:
    """The advisory lock that every transaction storing events in ``schema.table`` holds until
    it ends (named as no view is, in the views' key space: ``projections.tx.advisory_key``)."""
    return advisory_key(schema, f"{table} writers")


RECONNECT_SECONDS = 10.0
"""How long the pool tries to replace a lost connection before it leaves it to the next request."""


class PostgresFactory(postgres.PostgresFactory):
    """eventsourcing 9.5.6's factory; every connection of its pool with the libpq
    ``target_session_attrs`` of ``POSTGRES_TARGET_SESSION_ATTRS``, where it is set, and lost
    connections given up after ``RECONNECT_SECONDS``. The pool is made, not yet opened, by the
    library's constructor: no connection is made before this."""

    def __init__(self, env: Any) -> None:
        super().__init__(env)
        self.datastore.pool.reconnect_timeout = RECONNECT_SECONDS
        attrs = self.env.get("POSTGRES_TARGET_SESSION_ATTRS")
        if attrs:
            self.datastore.pool.kwargs["target_session_attrs"] = attrs


class PostgresRecorder(PostgresApplicationRecorder):
    saves_on_condition = True
    reads_ahead = True  # its pool lends each thread a connection of its own

    def __init__(self, datastore: PostgresDatastore, *, events_table_name: str = "stored_events"):
        super().__init__(datastore, events_table_name=events_table_name)
        if getattr(datastore.pool, "_check", None) is not None:  # pre-ping on: the cheap one
            datastore.pool._check = loan_check(datastore.pool)
        self._text_ids = datastore.originator_id_type == "text"
        # The library's SET LOCAL lock_timeout kept; its LOCK TABLE replaced (see above).
        self.lock_table_statements = [
            self.lock_table_statements[0],
            SQL("SELECT pg_advisory_xact_lock({0})").format(
                writers_lock_key(datastore.schema, events_table_name)),
        ]
        names = {
            "schema": Identifier(datastore.schema),
            "table": Identifier(events_table_name),
            "id_type": Identifier(datastore.originator_id_type),
        }
        insert = (
            "INSERT INTO {schema}.{table} (originator_id, originator_version, topic, state) "
            "SELECT * FROM unnest(%b::{id_type}[], %b::bigint[], %b::text[], %b::bytea[])"
        )
        self.columns_insert_statement = SQL(insert + " RETURNING notification_id").format(**names)
        select_many = (
            "SELECT originator_id, originator_version, topic, state FROM {schema}.{table} "
            "WHERE originator_id = ANY(%b::{id_type}[])"
        )
        order = " ORDER BY originator_id, originator_version"
        self.select_many_statement = SQL(select_many + order).format(**names)
        self.select_firsts_statement = SQL(
            select_many + " AND originator_version = 1" + order
        ).format(**names)
        self.select_all_statement = SQL(
            "SELECT originator_id, originator_version, topic, state FROM {schema}.{table} "
            "WHERE originator_id = %s ORDER BY originator_version ASC"
        ).format(**names)
        self._select_all: bytes | None = None
        self.position_statement = SQL(
            "SELECT notification_id FROM {schema}.{table} "
            "WHERE originator_id = %s AND originator_version = %s"
        ).format(**names)
        self.conditional_insert_statement = SQL(
            insert + " WHERE NOT EXISTS (SELECT 1 FROM {schema}.{table} "
            "WHERE originator_id = ANY(%b::{id_type}[])) RETURNING notification_id"
        ).format(**names)

    def select_events(
        self,
        originator_id: UUID | str,
        *,
        gt: int | None = None,
        lte: int | None = None,
        desc: bool = False,
        limit: int | None = None,
    ) -> list[StoredEvent]:
        """The library's ``select_events``; a whole history (no bounds, ascending: what
        reading an application asks) by a statement composed once, read as plain tuples."""
        if gt is None and lte is None and not desc and limit is None:
            return self._select_all_events(originator_id)
        return super().select_events(originator_id, gt=gt, lte=lte, desc=desc, limit=limit)

    @retry((InterfaceError, OperationalError), max_attempts=10, wait=0.2)
    def _select_all_events(self, originator_id: UUID | str) -> list[StoredEvent]:
        with self.datastore.get_connection() as conn, conn.cursor(row_factory=tuple_row) as curs:
            if self._select_all is None:
                self._select_all = self.select_all_statement.as_bytes(conn)
            curs.execute(self._select_all, (originator_id,), prepare=True)
            return [StoredEvent(originator_id=i, originator_version=v, topic=t, state=bytes(s))
                    for i, v, t, s in curs.fetchall()]

    def select_events_of(self, ids: Sequence[UUID], first_only: bool = False) -> list[StoredEvent]:
        if not ids:
            return []
        statement = self.select_firsts_statement if first_only else self.select_many_statement
        with self.datastore.get_connection() as conn, conn.cursor(row_factory=tuple_row) as curs:
            curs.execute(statement, (self._ids(ids),))
            return [StoredEvent(originator_id=i, originator_version=v, topic=t, state=bytes(s))
                    for i, v, t, s in curs.fetchall()]

    def position_of(self, originator_id: UUID, version: int) -> int | None:
        """The notification id (log position) of one stored event; None if there is none."""
        key = str(originator_id) if self._text_ids else originator_id
        with self.datastore.get_connection() as conn, conn.cursor() as curs:
            curs.execute(self.position_statement, (key, version))
            row = curs.fetchone()
            return None if row is None else row["notification_id"]

    def _ids(self, ids: Sequence[UUID | str]) -> list:
        return [str(i) for i in ids] if self._text_ids else list(ids)

    def _insert_stored_events(
        self,
        curs: Cursor[DictRow],
        stored_events: Sequence[StoredEvent],
        absent: Sequence[UUID] = (),
        **_: Any,
    ) -> None:
        self._lock_table(curs)
        self._notify_channel(curs)
        columns = (
            self._ids([e.originator_id for e in stored_events]),
            [e.originator_version for e in stored_events],
            [e.topic for e in stored_events],
            [e.state for e in stored_events],
        )
        if absent:
            curs.execute(self.conditional_insert_statement, (*columns, self._ids(absent)))
        else:
            curs.execute(self.columns_insert_statement, columns)

    def _fetch_ids_after_insert_events(
        self,
        curs: Cursor[DictRow],
        stored_events: Sequence[StoredEvent],
        absent: Sequence[UUID] = (),
        **kwargs: Any,
    ) -> Sequence[int] | None:
        ids = super()._fetch_ids_after_insert_events(curs, stored_events, **kwargs)
        if absent and not ids:
            raise PresentAggregate(f"one of {', '.join(map(str, absent))} exists: nothing recorded")
        return ids
