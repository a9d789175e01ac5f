"""The service's recorder on SQLite: eventsourcing 9.5.6's own, saving on condition, with log
positions and reads of many aggregates at once (``adapters.store.recorders`` says what each is;
the PostgreSQL recorder there does the same)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from uuid import UUID

from eventsourcing.persistence import StoredEvent
from eventsourcing.sqlite import SQLiteApplicationRecorder, SQLiteCursor

from domain.work import PresentAggregate


class SQLiteRecorder(SQLiteApplicationRecorder):
    saves_on_condition = True

    def select_events_of(self, ids: Sequence[UUID], first_only: bool = False) -> list[StoredEvent]:
        keys = [i.hex if isinstance(i, UUID) else i for i in ids]
        first = " AND originator_version = 1" if first_only else ""
        events: list[StoredEvent] = []
        with self.datastore.transaction(commit=False) as c:
            for start in range(0, len(keys), 500):  # within SQLite's limit on parameters
                chunk = keys[start : start + 500]
                c.execute(
                    "SELECT originator_id, originator_version, topic, state "
                    f"FROM {self.events_table_name} WHERE originator_id IN "
                    f"({','.join('?' * len(chunk))}){first} ORDER BY originator_id, originator_version",
                    chunk,
                )
                events += [
                    StoredEvent(
                        originator_id=self.convert_originator_id(row["originator_id"]),
                        originator_version=row["originator_version"],
                        topic=row["topic"],
                        state=row["state"],
                    )
                    for row in c.fetchall()
                ]
        return events

    def position_of(self, originator_id: UUID, version: int) -> int | None:
        """The notification id (log position) of one stored event; None if there is none."""
        key = originator_id.hex if isinstance(originator_id, UUID) else originator_id
        with self.datastore.transaction(commit=False) as c:
            c.execute(f"SELECT rowid FROM {self.events_table_name} "
                      "WHERE originator_id = ? AND originator_version = ?", (key, version))
            row = c.fetchone()
            return None if row is None else row[0]

    def _insert_events(
        self,
        c: SQLiteCursor,
        stored_events: Sequence[StoredEvent],
        absent: Sequence[UUID] = (),
        **kwargs: Any,
    ) -> Sequence[int] | None:
        ids = super()._insert_events(c, stored_events, **kwargs)
        if absent:
            # After the first insert this transaction holds SQLite's write lock and reads the
            # latest commit: a check recorded before it is seen, none can be recorded during it.
            keys = [a.hex if isinstance(a, UUID) else a for a in absent]
            c.execute(
                f"SELECT 1 FROM {self.events_table_name} WHERE originator_id IN "
                f"({','.join('?' * len(keys))}) LIMIT 1",
                keys,
            )
            if c.fetchone() is not None:
                raise PresentAggregate(
                    f"one of {', '.join(map(str, absent))} exists: nothing recorded"
                )
        return ids
