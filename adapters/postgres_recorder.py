"""The PostgreSQL event recorder, inserting a transaction's events as four binary arrays.

eventsourcing 9.5.6 sends the stored events of a transaction as one array of a composite type,
which psycopg can only write as text: every event's state is hex-encoded and escaped by regular
expressions in Python, which costs more than the rest of a small save. This recorder sends the
same four columns as binary arrays to the same ``INSERT … SELECT FROM unnest(…)`` and keeps
everything else the library does around it: the table lock that makes commit order equal
notification order, the NOTIFY, the returned notification ids, the unique key that refuses a
second event at the same version. The rows written are byte for byte those the library writes.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from eventsourcing.persistence import StoredEvent
from eventsourcing.postgres import PostgresApplicationRecorder, PostgresDatastore
from psycopg import Cursor
from psycopg.rows import DictRow
from psycopg.sql import SQL, Identifier


class PostgresRecorder(PostgresApplicationRecorder):
    def __init__(self, datastore: PostgresDatastore, *, events_table_name: str = "stored_events"):
        super().__init__(datastore, events_table_name=events_table_name)
        self._text_ids = datastore.originator_id_type == "text"
        self.columns_insert_statement = SQL(
            "INSERT INTO {schema}.{table} (originator_id, originator_version, topic, state) "
            "SELECT * FROM unnest(%b::{id_type}[], %b::bigint[], %b::text[], %b::bytea[]) "
            "RETURNING notification_id"
        ).format(
            schema=Identifier(datastore.schema),
            table=Identifier(events_table_name),
            id_type=Identifier(datastore.originator_id_type),
        )

    def _insert_stored_events(
        self, curs: Cursor[DictRow], stored_events: Sequence[StoredEvent], **_: Any
    ) -> None:
        self._lock_table(curs)
        self._notify_channel(curs)
        ids = [e.originator_id for e in stored_events]
        if self._text_ids:
            ids = [str(i) for i in ids]
        curs.execute(
            self.columns_insert_statement,
            (
                ids,
                [e.originator_version for e in stored_events],
                [e.topic for e in stored_events],
                [e.state for e in stored_events],
            ),
        )
