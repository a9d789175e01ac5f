"""The read models' storage: tables beside the event store, on SQLite or PostgreSQL.

SQL is written once, with ``?`` placeholders and ``{table}`` names, in the subset both databases
share; this module adapts the placeholders and opens transactions. One writer per projection at a
time is enforced by ``Tx.try_lock``: a PostgreSQL advisory lock held until the commit, or an
exclusive file lock beside the SQLite file.
"""

from __future__ import annotations

import fcntl
import hashlib
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from typing import Any
from urllib.parse import unquote, urlsplit

from projections.database_url import PostgresUrl

POSITIONS = """
CREATE TABLE IF NOT EXISTS projection_positions (
    name TEXT PRIMARY KEY,
    position BIGINT NOT NULL,
    updated_at TEXT NOT NULL
)
"""


class Tx:
    """One transaction on the views' database."""

    def __init__(self, store: ViewStore, connection: Any) -> None:
        self.store = store
        self.connection = connection
        self._files: list[Any] = []
        self._scratch: set[str] = set()  # scratch tables this transaction has filled

    @property
    def dialect(self) -> str:
        return self.store.dialect

    def _sql(self, sql: str) -> str:
        return sql.replace("?", "%s") if self.dialect == "postgres" else sql

    def execute(self, sql: str, params: Sequence[Any] = ()) -> Any:
        cursor = self.connection.cursor()
        cursor.execute(self._sql(sql), tuple(params))
        return cursor

    def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        if rows:
            self.connection.cursor().executemany(self._sql(sql), [tuple(r) for r in rows])

    def derived(self) -> None:
        """Says that this transaction writes only what the log can give again (a view's rows
        with its position): on PostgreSQL its commit does not wait for the disk. A crash may
        then lose its last commits, rows and position together, and they are made again."""
        if self.dialect == "postgres":
            self.execute("SET LOCAL synchronous_commit TO OFF")

    def insert_many(self, table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
        """Plain inserts of many rows: COPY on PostgreSQL (several times faster than
        statement by statement), executemany on SQLite."""
        if not rows:
            return
        if self.dialect == "postgres":
            with self.connection.cursor().copy(
                f"COPY {table} ({', '.join(columns)}) FROM STDIN"
            ) as copy:
                for row in rows:
                    copy.write_row(row)
            return
        marks = ", ".join("?" for _ in columns)
        self.executemany(f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})", rows)

    @contextmanager
    def inserter(self, table: str, columns: Sequence[str]) -> Iterator[Any]:
        """A function that inserts one row, for rows made one at a time: on PostgreSQL each goes
        straight into a COPY, so that the server stores rows while the caller makes the next
        ones (no other statement may run on the transaction meanwhile); on SQLite the rows are
        inserted by executemany at the end."""
        if self.dialect == "postgres":
            with self.connection.cursor().copy(
                f"COPY {table} ({', '.join(columns)}) FROM STDIN"
            ) as copy:
                yield copy.write_row
            return
        rows: list[Sequence[Any]] = []
        yield rows.append
        self.insert_many(table, columns, rows)

    def upsert_many(self, table: str, columns: Sequence[str], key: str,
                    rows: Sequence[Sequence[Any]]) -> None:
        """Inserts rows, replacing those whose ``key`` exists: on PostgreSQL by COPY into a
        temporary table and one INSERT … ON CONFLICT from it (many times faster than a
        statement a row), on SQLite by executemany."""
        if not rows:
            return
        names = ", ".join(columns)
        updates = ", ".join(f"{c} = excluded.{c}" for c in columns if c != key)
        if self.dialect == "postgres":
            scratch = f"{table}__upsert"
            self.execute(f"CREATE TEMP TABLE IF NOT EXISTS {scratch} "
                         f"(LIKE {table}) ON COMMIT DELETE ROWS")
            if scratch in self._scratch:  # a second upsert in one transaction: only its rows
                self.execute(f"DELETE FROM {scratch}")
            self._scratch.add(scratch)
            self.insert_many(scratch, columns, rows)
            self.execute(f"INSERT INTO {table} ({names}) SELECT {names} FROM {scratch} "
                         f"ON CONFLICT ({key}) DO UPDATE SET {updates}")
            return
        marks = ", ".join("?" for _ in columns)
        self.executemany(f"INSERT INTO {table} ({names}) VALUES ({marks}) "
                         f"ON CONFLICT ({key}) DO UPDATE SET {updates}", rows)

    @contextmanager
    def savepoint(self) -> Iterator[None]:
        """A nested transaction: what runs inside is undone when it raises (and the error
        raised on), kept when it does not."""
        if self.dialect == "postgres":
            with self.connection.transaction():
                yield
            return
        self.execute("SAVEPOINT towns_step")
        try:
            yield
        except BaseException:
            self.execute("ROLLBACK TO towns_step")
            self.execute("RELEASE towns_step")
            raise
        self.execute("RELEASE towns_step")

    def columns(self, table: str) -> list[str]:
        """The columns of ``table`` (of this store's schema); none when there is no table."""
        if self.dialect == "postgres":
            return [r[0] for r in self.all(
                "SELECT column_name FROM information_schema.columns WHERE table_schema = "
                "current_schema() AND table_name = ?", (table,))]
        return [r[1] for r in self.all(f"PRAGMA table_info({table})")]

    def all(self, sql: str, params: Sequence[Any] = ()) -> list[tuple]:
        return list(self.execute(sql, params).fetchall())

    def one(self, sql: str, params: Sequence[Any] = ()) -> tuple | None:
        return self.execute(sql, params).fetchone()

    def try_lock(self, name: str, derived: bool = False) -> bool:
        """Whether this transaction may write ``name``, held till it ends; ``derived``: also
        ``derived()`` (on PostgreSQL in the lock's own statement)."""
        if self.dialect == "postgres":
            # Advisory locks are per database: the schema keeps deployments that share one apart.
            scoped = f"{self.store.schema}/{name}".encode()
            key = int.from_bytes(hashlib.sha256(scoped).digest()[:8], "big", signed=True)
            also = ", set_config('synchronous_commit', 'off', true)" if derived else ""
            return bool(self.one(f"SELECT pg_try_advisory_xact_lock(?){also}", (key,))[0])
        lock = open(self.store.lock_path(name), "a+")  # noqa: SIM115 - closed at the end
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            lock.close()
            return False
        self._files.append(lock)  # (``derived`` asks nothing of SQLite)
        return True

    def release(self) -> None:
        for lock in self._files:
            lock.close()  # closing releases the flock
        self._files.clear()


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
