"""One transaction on the views' database (``projections.store.ViewStore.transaction``): SQL
with ``?`` placeholders adapted to the dialect, rows written in bulk, savepoints and the
per-projection writer's lock."""

from __future__ import annotations

import fcntl
import hashlib
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from typing import Any

def advisory_key(schema: str, name: str) -> int:
    """The bigint of PostgreSQL's advisory lock ``name`` in ``schema``: advisory locks are per
    database, so the schema keeps deployments that share one apart."""
    return int.from_bytes(hashlib.sha256(f"{schema}/{name}".encode()).digest()[:8], "big",
                          signed=True)


IN_CHUNK = 500
"""Values a statement on SQLite (``Tx.all_in``), within its limit on parameters."""


class Tx:
    """One transaction on the views' database."""

    def __init__(self, store: Any, connection: Any) -> None:
        """``store``: the ``ViewStore`` that opened it (its dialect, schema and lock files)."""
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
        """Plain inserts of many rows: on PostgreSQL, up to ``FEW`` rows by ``_values``, more by
        COPY (several times faster than statement by statement, but two round trips more);
        executemany on SQLite."""
        if not rows:
            return
        if self.dialect == "postgres" and len(rows) > FEW:
            with self.connection.cursor().copy(
                f"COPY {table} ({', '.join(columns)}) FROM STDIN"
            ) as copy:
                for row in rows:
                    copy.write_row(row)
            return
        self._values(table, columns, rows, "")

    @contextmanager
    def inserter(self, table: str, columns: Sequence[str]) -> Iterator[Any]:
        """A function that inserts one row, for rows made one at a time: on PostgreSQL, past
        ``FEW`` rows, each goes straight into a COPY, so that the server stores rows while the
        caller makes the next ones (no other statement may run on the transaction meanwhile);
        fewer go in at the end (``insert_many``), as on SQLite."""
        rows: list[Sequence[Any]] = []
        if self.dialect != "postgres":
            yield rows.append
            self.insert_many(table, columns, rows)
            return
        with ExitStack() as stack:
            copying: list[Any] = []

            def insert(row: Sequence[Any]) -> None:
                if copying:
                    copying[0].write_row(row)
                    return
                rows.append(row)
                if len(rows) > FEW:  # many: the rest streams
                    copy = stack.enter_context(self.connection.cursor().copy(
                        f"COPY {table} ({', '.join(columns)}) FROM STDIN"))
                    for held in rows:
                        copy.write_row(held)
                    copying.append(copy)

            yield insert
            if not copying:
                self.insert_many(table, columns, rows)

    def upsert_many(self, table: str, columns: Sequence[str], key: str,
                    rows: Sequence[Sequence[Any]]) -> None:
        """Inserts rows, replacing those whose ``key`` exists (no two rows with one key): on
        PostgreSQL, up to ``FEW`` rows by ``_values`` with ``ON CONFLICT``, and for more, COPY
        into a temporary table and one INSERT … ON CONFLICT from it (many times faster than a
        statement a row); on SQLite by ``_values``."""
        if not rows:
            return
        names = ", ".join(columns)
        updates = ", ".join(f"{c} = excluded.{c}" for c in columns if c != key)
        conflict = f" ON CONFLICT ({key}) DO UPDATE SET {updates}"
        if self.dialect == "postgres" and len(rows) > FEW:
            scratch = f"{table}__upsert"
            self.execute(f"CREATE TEMP TABLE IF NOT EXISTS {scratch} "
                         f"(LIKE {table}) ON COMMIT DELETE ROWS")
            if scratch in self._scratch:  # a second upsert in one transaction: only its rows
                self.execute(f"DELETE FROM {scratch}")
            self._scratch.add(scratch)
            self.insert_many(scratch, columns, rows)
            self.execute(f"INSERT INTO {table} ({names}) SELECT {names} FROM {scratch}"
                         + conflict)
            return
        self._values(table, columns, rows, conflict)

    def _values(self, table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]],
                tail: str) -> None:
        """``rows`` by one ``INSERT … VALUES`` (and ``tail``) a row, by executemany: on
        PostgreSQL all of them sent in one pipeline, one round trip."""
        marks = ", ".join("?" for _ in columns)
        self.executemany(f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks}){tail}",
                         rows)

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

    def all_in(self, sql: str, values: Sequence[Any]) -> list[tuple]:
        """The rows of ``sql``, which ends with the column to match (``… WHERE app_id``), whose
        column holds any of ``values``: ``IN (…)`` by chunks within SQLite's limit on
        parameters, except on PostgreSQL past ``FEW`` values: one array parameter
        (``= ANY(…)``), with a text the same for any number of values. psycopg converts a
        statement of more than 50 parameters afresh each time: at 500 values the array took
        half the client's CPU of the list; at 8, a fifth more (the array's own encoding)."""
        if not values:
            return []
        if self.dialect == "postgres" and len(values) > FEW:
            return self.all(f"{sql} = ANY(?)", (list(values),))
        rows: list[tuple] = []
        for start in range(0, len(values), IN_CHUNK):
            chunk = values[start : start + IN_CHUNK]
            rows += self.all(f"{sql} IN ({', '.join('?' for _ in chunk)})", chunk)
        return rows

    def one(self, sql: str, params: Sequence[Any] = ()) -> tuple | None:
        return self.execute(sql, params).fetchone()

    def try_lock(self, name: str, derived: bool = False) -> bool:
        """Whether this transaction may write ``name``, held till it ends; ``derived``: also
        ``derived()`` (on PostgreSQL in the lock's own statement)."""
        if self.dialect == "postgres":
            key = advisory_key(self.store.schema, name)
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


FEW = 32
"""Rows up to which an ``INSERT … VALUES`` a row, pipelined, writes them on PostgreSQL:
cheaper than COPY's round trips (and an upsert's temporary table) for the few rows a view's step
writes at a steady rate; past it, COPY is. (One multi-row statement is no cheaper: past psycopg's
4 KiB its text is parsed again each time.)"""
