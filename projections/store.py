"""The read models' storage: tables beside the event store, on SQLite or PostgreSQL.

SQL is written once, with ``?`` placeholders and ``{table}`` names, in the subset both databases
share; this module adapts the placeholders and opens transactions. One writer per projection at a
time is enforced by ``Tx.try_lock``: a PostgreSQL advisory lock held until the commit, or an
exclusive file lock beside the SQLite file.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from typing import Any
from urllib.parse import unquote, urlsplit

from projections.database_url import PostgresUrl
from projections.tx import Tx

POSITIONS = """
CREATE TABLE IF NOT EXISTS projection_positions (
    name TEXT PRIMARY KEY,
    position BIGINT NOT NULL,
    updated_at TEXT NOT NULL
)
"""


def unreachable(error: BaseException) -> bool:
    """Whether ``error`` says the database could not be used (a lost connection, a locked,
    missing or damaged file, a deadlock, a cancelled statement, a read-only standby, a table or
    a right gone), rather than that some row could not be written: such a failure is the
    store's, to be tried again later, never an event's. PostgreSQL's "program limit exceeded"
    (class 54: a value too large for an index, say) is psycopg's OperationalError too, but the
    row's doing."""
    import psycopg
    from eventsourcing.persistence import PersistenceError

    errors = psycopg.errors
    if isinstance(error, errors.ProgramLimitExceeded):
        return False
    return type(error) is sqlite3.DatabaseError or isinstance(error, (
        PersistenceError, psycopg.OperationalError, psycopg.InterfaceError,
        errors.ReadOnlySqlTransaction, errors.InsufficientPrivilege, errors.UndefinedTable,
        errors.UndefinedColumn, sqlite3.OperationalError, OSError, MemoryError))


class ViewStore:
    """Where the read models live: the database of ``TOWNS_DATABASE_URL``."""

    def __init__(self, url: str) -> None:
        parts = urlsplit(url)
        self.url = url
        self._local = threading.local()
        if parts.scheme == "sqlite":
            self.dialect = "sqlite"
            self.path = unquote(url[len("sqlite:///") :])
        elif parts.scheme in ("postgresql", "postgres"):
            self.dialect = "postgres"
            target = PostgresUrl.parse(url)  # one host or several (libpq's multi-host URL)
            self.conninfo, self.schema = target.conninfo(), target.schema or "public"
        else:
            raise ValueError(f"no read-model store for {url!r}")

    def lock_path(self, name: str) -> str:
        return f"{self.path}.{name}.lock"

    def _connect(self) -> Any:
        if self.dialect == "sqlite":
            connection = sqlite3.connect(self.path, timeout=30, isolation_level=None,
                                         check_same_thread=False)
            connection.execute("PRAGMA journal_mode=WAL")
            return connection
        import psycopg

        # No server-side prepared statements: a generic plan made while a table was empty (a
        # sequential scan) would be kept as the table grows to millions of rows.
        connection = psycopg.connect(self.conninfo, autocommit=True, prepare_threshold=None)
        connection.execute(f'SET search_path TO "{self.schema}"')
        return connection

    def _connection(self) -> Any:
        connection = getattr(self._local, "connection", None)
        if connection is None or getattr(connection, "closed", False):
            connection = self._local.connection = self._connect()
        return connection

    def _begun(self, stack: ExitStack) -> Any:
        """This thread's PostgreSQL connection, in a transaction begun on ``stack``. The BEGIN
        checks the connection at no extra cost: one the server dropped (a restart, a terminated
        backend) fails it, and is replaced by a new one, once; a server that cannot be reached
        raises ``psycopg.OperationalError`` from connecting."""
        import psycopg

        connection = self._connection()
        try:
            stack.enter_context(connection.transaction())
        except psycopg.OperationalError:
            if not connection.broken:
                raise
            self._local.connection = None
            connection.close()
            connection = self._connection()
            stack.enter_context(connection.transaction())
        return connection

    @contextmanager
    def transaction(self, read_only: bool = False) -> Iterator[Tx]:
        """A transaction; ``read_only`` ones never wait behind a writer on SQLite."""
        if self.dialect == "postgres":
            with ExitStack() as stack:
                connection = self._begun(stack)
                tx = Tx(self, connection)
                stack.callback(tx.release)
                try:
                    yield tx
                except BaseException:
                    if connection.broken:  # the next transaction of this thread connects anew
                        self._local.connection = None
                    raise
            return
        connection = self._connection()
        tx = Tx(self, connection)
        try:
            connection.execute("BEGIN DEFERRED" if read_only else "BEGIN IMMEDIATE")
            try:
                yield tx
            except BaseException:
                connection.execute("ROLLBACK")
                raise
            connection.execute("COMMIT")
        finally:
            tx.release()

    def close(self) -> None:
        connection = getattr(self._local, "connection", None)
        if connection is not None:
            connection.close()
            self._local.connection = None

    def ensure_positions(self) -> None:
        with self.transaction() as tx:
            tx.execute(POSITIONS)

    def position(self, tx: Tx, name: str) -> int:
        row = tx.one("SELECT position FROM projection_positions WHERE name = ?", (name,))
        return row[0] if row else 0

    def set_position(self, tx: Tx, name: str, position: int, now: str) -> None:
        tx.execute(
            "INSERT INTO projection_positions (name, position, updated_at) VALUES (?, ?, ?) "
            "ON CONFLICT (name) DO UPDATE SET position = excluded.position, "
            "updated_at = excluded.updated_at",
            (name, position, now),
        )
