"""The rows of each store's tables (events and snapshots), every column as stored."""

from __future__ import annotations

import base64
import sqlite3
from typing import Any
from uuid import UUID

from domain.service import Towns


def tables(towns: Towns) -> dict[str, str]:
    """The tables of the event store: events (the log) and snapshots."""
    found = {"events": towns.recorder.events_table_name}
    if towns.snapshots is not None:
        found["snapshots"] = towns.snapshots.recorder.events_table_name
    return found


def cell(value: Any) -> Any:
    if isinstance(value, memoryview):
        value = bytes(value)
    if isinstance(value, bytes):
        return base64.b64encode(value).decode("ascii")
    if isinstance(value, UUID):
        return str(value)
    return value


def sqlite_rows(path: str, table: str, kind: str) -> tuple[list[str], list[dict]]:
    conn = sqlite3.connect(path)
    try:
        rowid = "rowid AS notification_id, " if kind == "events" else ""
        order = "rowid" if kind == "events" else "originator_id, originator_version"
        cursor = conn.execute(f"SELECT {rowid}* FROM {table} ORDER BY {order}")
        names = [d[0] for d in cursor.description]
        rows = [dict(zip(names, map(cell, row))) for row in cursor.fetchall()]
        return names, rows
    finally:
        conn.close()


def postgres_rows(url: str, schema: str, table: str, kind: str) -> tuple[list[str], list[dict]]:
    import psycopg

    order = "notification_id" if kind == "events" else "originator_id, originator_version"
    with psycopg.connect(url) as conn:
        cursor = conn.execute(f'SELECT * FROM "{schema}"."{table}" ORDER BY {order}')
        names = [d.name for d in cursor.description]
        rows = [dict(zip(names, map(cell, row))) for row in cursor.fetchall()]
        return names, rows


def column_types_postgres(url: str, schema: str, table: str) -> dict[str, str]:
    import psycopg

    with psycopg.connect(url) as conn:
        return dict(conn.execute(
            "SELECT column_name, data_type FROM information_schema.columns "
            "WHERE table_schema = %s AND table_name = %s ORDER BY ordinal_position",
            (schema, table)).fetchall())


def column_types_sqlite(path: str, table: str) -> dict[str, str]:
    conn = sqlite3.connect(path)
    try:
        return {row[1]: row[2] for row in conn.execute(f"PRAGMA table_info({table})")}
    finally:
        conn.close()
