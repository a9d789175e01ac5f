"""Samples of the read models' lag over time, for the operators' charts: the table
``projection_lag_samples`` beside the views, one row per read model and minute.

A sample is taken by the worker's beat and whenever an operator reads the queue view, the
incidents or the charts; within a minute the latest figure replaces the earlier one, so a
minute holds one row per view however often it is sampled. Rows older than ``KEEP`` are pruned
as samples are written: the table holds at most a day of minutes per view.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

from adapters.store.tables import create_tables
from projections.store import ViewStore

KEEP = timedelta(hours=24)

TABLE = """
CREATE TABLE IF NOT EXISTS projection_lag_samples (
    name TEXT NOT NULL,
    minute TEXT NOT NULL,
    lag BIGINT NOT NULL,
    position BIGINT NOT NULL,
    head BIGINT NOT NULL,
    sampled_at TEXT NOT NULL,
    PRIMARY KEY (name, minute)
)
"""


def minute_of(when: datetime) -> str:
    """The minute an instant falls in, as UTC text that sorts in time order."""
    return when.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:00+00:00")


def setup(store: ViewStore) -> None:
    """Creates the table once per store object."""
    if getattr(store, "_lag_samples_ready", False):
        return

    def create() -> None:
        with store.transaction() as tx:
            tx.execute(TABLE)

    create_tables(create)  # requests and the worker may race to create it
    store._lag_samples_ready = True  # type: ignore[attr-defined]


def record(runner: Any, now: datetime | None = None) -> int:
    """Samples every read model's lag now (``runner.status()``), prunes what is older than
    ``KEEP``; answers the rows written. ``runner`` None (no views) writes nothing."""
    if runner is None:
        return 0
    now = now or datetime.now(timezone.utc)
    statuses = runner.status()
    setup(runner.store)
    minute, stamp = minute_of(now), now.astimezone(timezone.utc).isoformat()
    with runner.store.transaction() as tx:
        for status in statuses:
            tx.execute(
                "INSERT INTO projection_lag_samples (name, minute, lag, position, head, sampled_at) "
                "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (name, minute) DO UPDATE SET "
                "lag = excluded.lag, position = excluded.position, head = excluded.head, "
                "sampled_at = excluded.sampled_at",
                (status.name, minute, status.lag, status.position, status.head, stamp))
        tx.execute("DELETE FROM projection_lag_samples WHERE minute < ?", (minute_of(now - KEEP),))
    return len(statuses)


def series(runner: Any, since: datetime) -> dict[str, list[dict]]:
    """Per read model, its samples from ``since`` on, oldest first: ``{"minute", "lag"}``."""
    if runner is None:
        return {}
    setup(runner.store)
    with runner.store.transaction(read_only=True) as tx:
        rows = tx.all("SELECT name, minute, lag FROM projection_lag_samples WHERE minute >= ? "
                      "ORDER BY name, minute", (minute_of(since),))
    found: dict[str, list[dict]] = {}
    for name, minute, lag in rows:
        found.setdefault(name, []).append({"minute": minute, "lag": int(lag)})
    return found
