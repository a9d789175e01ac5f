"""Creating the tables of the service's stores from several processes at once."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")
RACES = ("UniqueViolation", "DuplicateTable", "DuplicateObject")  # psycopg's, by name
RACE_TEXTS = ("concurrently updated", "pg_type_typname_nsp_index")  # as eventsourcing wraps them


def create_tables(create: Callable[[], T], attempts: int = 5) -> T:
    """Creates tables; PostgreSQL lets two processes racing on CREATE TABLE IF NOT EXISTS
    fail one of them (a unique violation in its catalogue, or "tuple concurrently updated"),
    which a second try passes."""
    for attempt in range(attempts):
        try:
            return create()
        except Exception as error:
            racing = type(error).__name__ in RACES or any(t in str(error) for t in RACE_TEXTS)
            if not racing or attempt == attempts - 1:
                raise
            time.sleep(0.2 * (attempt + 1))
    raise AssertionError("unreachable")
