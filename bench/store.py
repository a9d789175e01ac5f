"""The benchmarks' own database, for the system benchmarks (``bench/system.py``): a fresh schema
per run in the database ``TOWNS_BENCH_SYSTEM_POSTGRES_URL`` names (default ``towns_bench`` on the
loopback server, made when missing), and plain SQL on it for what the benchmarks count and wait
for, never through the service."""

from __future__ import annotations

import os
import re
import time
import urllib.parse
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import psycopg

from tests.support import fresh_schema

SYSTEM_POSTGRES_URL = os.environ.get(
    "TOWNS_BENCH_SYSTEM_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/towns_bench")


@contextmanager
def bench_schema(prefix: str = "sys") -> Iterator[str]:
    """A fresh schema in the benchmarks' own database (made when missing), dropped afterwards."""
    name = urllib.parse.urlsplit(SYSTEM_POSTGRES_URL).path.lstrip("/")
    admin = re.sub(r"/[^/?]*(\?|$)", r"/postgres\1", SYSTEM_POSTGRES_URL, count=1)
    with psycopg.connect(admin, autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone():
            conn.execute(f'CREATE DATABASE "{name}"')
    with fresh_schema(SYSTEM_POSTGRES_URL, prefix=prefix) as url:
        yield url


def schema_of(url: str) -> str:
    return urllib.parse.parse_qs(urllib.parse.urlsplit(url).query)["schema"][0]


class Store:
    """Plain SQL on the run's schema: counts the benchmarks check, never through the service."""

    def __init__(self, url: str) -> None:
        self.schema = schema_of(url)
        base = urllib.parse.urlsplit(url)._replace(query="").geturl()
        self.conn = psycopg.connect(base, autocommit=True)
        self.conn.execute(f"SET search_path TO {self.schema}")

    def one(self, sql: str, params=()):
        return self.conn.execute(sql, params).fetchone()

    def table_exists(self, name: str) -> bool:
        return self.one("SELECT to_regclass(%s)", (f"{self.schema}.{name}",))[0] is not None

    def application_events(self) -> int:
        if not self.table_exists("towns_events"):
            return 0
        return self.one("SELECT count(*) FROM towns_events "
                        "WHERE topic LIKE 'towns:Application.%%'")[0]

    def head(self) -> int:
        """The log's last notification id: an index lookup, cheap to poll often (a count of
        the events reads the whole growing table, and its CPU is the service's too)."""
        if not self.table_exists("towns_events"):
            return 0
        return self.one("SELECT coalesce(max(notification_id), 0) FROM towns_events")[0]

    def wait_for_application_events(self, count: int, deadline: float,
                                     check: Callable[[], None] = lambda: None) -> None:
        """Until the log holds ``count`` application events: the head polled every 50 ms until
        it could (each applied message leaves an event and an inbox marker), then the events
        counted every half second; TimeoutError after ``deadline`` (``time.time()``)."""
        while True:
            check()
            if time.time() > deadline:
                raise TimeoutError(f"{self.application_events()} of {count} messages stored")
            if self.head() >= 2 * count:
                if self.application_events() >= count:
                    return
                time.sleep(0.5)
            else:
                time.sleep(0.05)

    def close(self) -> None:
        self.conn.close()
