"""Small helpers every kind of test uses."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest


def eventually(check: Callable[[], Any], timeout: float = 30, every: float = 0.1, what: str = "") -> Any:
    """Polls ``check`` until it answers something true and returns that; fails the test, naming
    ``what`` (or the check), after ``timeout`` seconds."""
    end = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > end:
            pytest.fail(f"not within {timeout}s: {what or check.__doc__ or check}")
        time.sleep(every)


@contextmanager
def fresh_schema(postgres_url: str, prefix: str = "t") -> Iterator[str]:
    """``postgres_url`` with its tables in a new schema of their own, dropped afterwards."""
    import psycopg

    from projections.database_url import PostgresUrl

    schema = f"{prefix}_{uuid.uuid4().hex[:12]}"
    target = PostgresUrl.parse(postgres_url)  # one host or several
    with psycopg.connect(target.conninfo(), autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")
    try:
        yield target.with_schema(schema).url()
    finally:
        with psycopg.connect(target.conninfo(), autocommit=True) as conn:
            conn.execute(f"DROP SCHEMA {schema} CASCADE")
