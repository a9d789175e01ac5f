"""Freezing each kind of store: a fresh one driven through the history, its rows written out."""

from __future__ import annotations

import json
import tempfile
import uuid
from pathlib import Path

from adapters.bootstrap import build_towns
from adapters.config import Config
from domain.service import Towns
from projections.database_url import conninfo

from .expect import expectations
from .history import History
from .rows import column_types_postgres, column_types_sqlite, postgres_rows, sqlite_rows, tables


def write_store(out: Path, store: str, url: str, towns: Towns, schema: str | None,
                path: str | None) -> dict:
    found = tables(towns)
    lines, info = [], {"tables": {}}
    all_rows: dict[str, list[dict]] = {}
    for kind, table in found.items():
        if store == "sqlite":
            names, rows = sqlite_rows(path, table, kind)
            types = column_types_sqlite(path, table)
        else:
            names, rows = postgres_rows(conninfo(url), schema, table, kind)
            types = column_types_postgres(conninfo(url), schema, table)
        all_rows[kind] = rows
        info["tables"][kind] = {"name": table, "columns": names, "types": types,
                                "rows": len(rows)}
        lines += [json.dumps({"table": kind, **row}, ensure_ascii=False) for row in rows]
    (out / f"{store}.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    info["file"] = f"{store}.jsonl"
    info["expect"] = expectations(towns, all_rows["events"], all_rows.get("snapshots", []))
    return info


def freeze_sqlite(config: Config, out: Path) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        path = f"{tmp}/towns.db"
        towns = build_towns(config, f"sqlite:///{path}")
        try:
            History(towns, config).run()
            return write_store(out, "sqlite", f"sqlite:///{path}", towns, None, path)
        finally:
            towns.close()


def freeze_postgres(config: Config, out: Path, base_url: str) -> dict:
    import psycopg

    schema = f"freeze_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(base_url, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")
    try:
        url = f"{base_url}?schema={schema}"
        towns = build_towns(config, url)
        try:
            History(towns, config).run()
            return write_store(out, "postgres", url, towns, schema, None)
        finally:
            towns.close()
    finally:
        with psycopg.connect(base_url, autocommit=True) as conn:
            conn.execute(f"DROP SCHEMA {schema} CASCADE")
