"""Pipeline counts: how many applications of each call and city stand in each status.

Kept incrementally: an event that changes an application's status takes one from the old
(call, city, status) and adds one to the new. Each application's current standing (status, and
beneath a lapse the state reached) is kept in ``pipeline_applications`` and moved on by the
domain's own rule, ``domain.lifecycle.standing_after``, as the aggregate and the summaries do.
Rows that reach zero are deleted, so the counts equal the summaries grouped by
(call_id, city, status).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

from domain import lifecycle as lc
from domain.applications import EVENT_CLASSES
from projections.base import Projection, Recorded
from projections.store import Tx

TOPICS = tuple(cls.TOPIC for cls in EVENT_CLASSES.values())
CHUNK = 500


class PipelineCounts(Projection):
    name = "pipeline"
    topics = TOPICS
    tables = {
        "pipeline_counts": """CREATE TABLE IF NOT EXISTS {name} (
            call_id TEXT NOT NULL, city TEXT NOT NULL, status TEXT NOT NULL,
            count BIGINT NOT NULL, PRIMARY KEY (call_id, city, status))""",
        "pipeline_applications": """CREATE TABLE IF NOT EXISTS {name} (
            app_id TEXT PRIMARY KEY, call_id TEXT NOT NULL, city TEXT NOT NULL,
            status TEXT NOT NULL, lapsed_from TEXT)""",
    }

    def apply(self, tx: Tx, names: dict[str, str], batch: Sequence[Recorded]) -> None:
        apps = self._load(tx, names["pipeline_applications"],
                          sorted({str(r.event.originator_id) for r in batch}))
        deltas: Counter[tuple[str, str, str]] = Counter()
        for recorded in batch:
            event = recorded.event
            app_id = str(event.originator_id)
            row = apps.get(app_id)
            if row is None:  # the submission: the first event of the application
                row = apps[app_id] = [event.data["call_id"], event.data["city"], None, None]
            call_id, city, status, lapsed_from = row
            before = None if status is None else lc.Standing(status, lapsed_from)
            after = lc.standing_after(before, event.EVENT_TYPE, event.data)
            if after.status != status:
                if status is not None:
                    deltas[(call_id, city, status)] -= 1
                deltas[(call_id, city, after.status)] += 1
            row[2], row[3] = after.status, after.lapsed_from
        tx.executemany(
            f"INSERT INTO {names['pipeline_applications']} (app_id, call_id, city, status, "
            "lapsed_from) VALUES (?, ?, ?, ?, ?) ON CONFLICT (app_id) DO UPDATE SET "
            "status = excluded.status, lapsed_from = excluded.lapsed_from",
            [(app_id, *row) for app_id, row in apps.items()],
        )
        counts = names["pipeline_counts"]
        changed = sorted((key, n) for key, n in deltas.items() if n)
        tx.executemany(
            f"INSERT INTO {counts} (call_id, city, status, count) VALUES (?, ?, ?, ?) "
            f"ON CONFLICT (call_id, city, status) DO UPDATE SET count = {counts}.count + "
            "excluded.count",
            [(*key, n) for key, n in changed],
        )
        tx.executemany(
            f"DELETE FROM {counts} WHERE call_id = ? AND city = ? AND status = ? AND count <= 0",
            [key for key, n in changed if n < 0],
        )

    def _load(self, tx: Tx, table: str, ids: list[str]) -> dict[str, list]:
        apps: dict[str, list] = {}
        for start in range(0, len(ids), CHUNK):
            chunk = ids[start : start + CHUNK]
            marks = ", ".join("?" for _ in chunk)
            for app_id, *row in tx.all(
                f"SELECT app_id, call_id, city, status, lapsed_from FROM {table} "
                f"WHERE app_id IN ({marks})", chunk,
            ):
                apps[app_id] = list(row)
        return apps
