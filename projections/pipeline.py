"""Pipeline counts: how many applications of each call and city stand in each status.

Kept incrementally: an event that changes an application's status takes one from the old
(call, city, status) and adds one to the new. Each application's current standing (status, and
beneath a lapse the state reached) is kept in ``pipeline_applications`` and moved on by the
domain's own rule, ``domain.lifecycle.standing_after``, as the aggregate and the summaries do.
Rows that reach zero are deleted, so the counts equal the summaries grouped by
(call_id, city, status).

Most events need nothing but their topic: the stored JSON is read only for a submission (call
and city) and wherever the rule reads the event's data (a reinstatement).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

from domain.applications import EVENT_CLASSES
from projections.base import Projection, Recorded, data_of, next_standing
from projections.store import Tx

TOPICS = tuple(cls.TOPIC for cls in EVENT_CLASSES.values())
TYPES = {cls.TOPIC: cls.EVENT_TYPE for cls in EVENT_CLASSES.values()}


class PipelineCounts(Projection):
    name = "pipeline"
    topics = TOPICS
    decodes = False  # the topic says most of it; the stored JSON the rest
    tables = {
        "pipeline_counts": """CREATE TABLE IF NOT EXISTS {name} (
            call_id TEXT NOT NULL, city TEXT NOT NULL, status TEXT NOT NULL,
            count BIGINT NOT NULL, PRIMARY KEY (call_id, city, status))""",
        "pipeline_applications": """CREATE TABLE IF NOT EXISTS {name} (
            app_id TEXT PRIMARY KEY, call_id TEXT NOT NULL, city TEXT NOT NULL,
            status TEXT NOT NULL, lapsed_from TEXT)""",
    }

    def apply(self, tx: Tx, names: dict[str, str], batch: Sequence[Recorded]) -> None:
        table = names["pipeline_applications"]
        ids = {r.originator_id: None for r in batch}  # str() once per application, not event
        text = {uuid: str(uuid) for uuid in ids}
        loaded = self._load(tx, table, sorted(text.values()))
        apps = {uuid: loaded.get(app_id) for uuid, app_id in text.items()}
        deltas: Counter[tuple[str, str, str]] = Counter()
        for recorded in batch:
            uuid = recorded.originator_id
            kind = TYPES[recorded.topic]
            row = apps[uuid]
            if row is None:  # the submission: the first event of the application
                data = data_of(recorded)
                row = apps[uuid] = [data["call_id"], data["city"], None, None]
            call_id, city, status, lapsed_from = row
            after, lapsed = next_standing(status, lapsed_from, kind, recorded)
            if after != status:
                if status is not None:
                    deltas[(call_id, city, status)] -= 1
                deltas[(call_id, city, after)] += 1
            row[2], row[3] = after, lapsed
        columns = ("app_id", "call_id", "city", "status", "lapsed_from")
        tx.upsert_many(table, columns, "app_id",
                       [(text[u], *row) for u, row in apps.items() if text[u] in loaded])
        tx.insert_many(table, columns,
                       [(text[u], *row) for u, row in apps.items() if text[u] not in loaded])
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
        for app_id, *row in tx.all_in(
            f"SELECT app_id, call_id, city, status, lapsed_from FROM {table} WHERE app_id", ids
        ):
            apps[app_id] = list(row)
        return apps
