"""Reading read models back for tests: every row of a projection's live tables, and the check
that a live projection equals a rebuild from zero, row for row."""

from __future__ import annotations

import json

from projections.runner import ProjectionRunner
from projections.store import ViewStore

RECORD_TIME = {"recorded_at", "position", "checked_as_of"}
"""Columns and folded-state keys that depend on when and in which log an event was recorded
(a lapse found as an application is recorded after the check names the check's record time)."""


def rows(store: ViewStore, table: str) -> list[tuple]:
    with store.transaction() as tx:
        cursor = tx.execute(f"SELECT * FROM {table}")
        found = cursor.fetchall()
    return sorted((tuple(row) for row in found), key=repr)


def snapshot(runner: ProjectionRunner, name: str) -> dict[str, list[tuple]]:
    projection = runner.projection(name)
    return {table: rows(runner.store, table) for table in projection.live_names().values()}


def assert_caught_up(runner: ProjectionRunner) -> None:
    lagging = [(s.name, s.position, s.head) for s in runner.status() if s.lag]
    assert not lagging, f"projections behind the log: {lagging}"


def assert_equal_to_rebuild(runner: ProjectionRunner) -> dict[str, dict]:
    """Every projection, caught up, holds exactly the rows a rebuild from zero gives; the live
    snapshots, by projection name."""
    assert_caught_up(runner)
    live = {}
    for name in runner.projections:
        live[name] = snapshot(runner, name)
        runner.rebuild(name)
        rebuilt = snapshot(runner, name)
        for table, found in live[name].items():
            assert found == rebuilt[table], f"{name}: {table} differs from a rebuild from zero"
        assert sum(len(t) for t in live[name].values()) > 0, f"{name} is empty"
    return live


def business_rows(store: ViewStore, table: str) -> list[dict]:
    """A per-application table without its record-time columns: what two runs of the same
    batch into two logs must agree on."""
    with store.transaction() as tx:
        cursor = tx.execute(f"SELECT * FROM {table}")
        columns = [c[0] for c in cursor.description]
        found = cursor.fetchall()
    out = []
    for row in found:
        item = {c: v for c, v in zip(columns, row) if c not in RECORD_TIME}
        if "state" in item:
            item["state"] = _without_record_time(json.loads(item["state"]))
        out.append(item)
    return sorted(out, key=lambda r: (r.get("call_id"), r.get("application_ref"), repr(r)))


def _without_record_time(value):
    if isinstance(value, dict):
        return {k: _without_record_time(v) for k, v in value.items() if k not in RECORD_TIME}
    if isinstance(value, list):
        return [_without_record_time(v) for v in value]
    return value
