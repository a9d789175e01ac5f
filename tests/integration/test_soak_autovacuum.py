"""The soak's stand-in for autovacuum (``bench/autovacuum.py``) gives way as autovacuum does: a
vacuum that holds up another session's lock request for ``deadlock_timeout`` is cancelled (here
a request for EXCLUSIVE mode, which waits for a vacuum of the table)."""

from __future__ import annotations

import threading
import time

import psycopg

from bench.autovacuum import Autovacuum
from bench.store import Store, schema_of


def _active(store: Store, pid: int) -> bool:
    row = store.one("SELECT state, query FROM pg_stat_activity WHERE pid = %s", (pid,))
    return row is not None and row[0] == "active" and row[1].startswith("VACUUM")


def test_a_vacuum_holding_up_a_table_lock_is_cancelled_after_deadlock_timeout(postgres_schema_url):
    schema = schema_of(postgres_schema_url)
    setup = Store(postgres_schema_url)
    setup.conn.execute("CREATE TABLE held (n INTEGER, s TEXT)")
    setup.conn.execute("INSERT INTO held SELECT g, repeat('x', 400) FROM generate_series(1, 20000) g")
    stand_in = Autovacuum(postgres_schema_url)
    # At one unit of cost per 100 ms, the vacuum of this table's ~1,200 pages would take hours.
    stand_in.store.conn.execute("SET vacuum_cost_delay = '100ms'")
    stand_in.store.conn.execute("SET vacuum_cost_limit = 1")
    results: list[bool] = []
    vacuum = threading.Thread(target=lambda: results.append(
        stand_in.run_giving_way(f'VACUUM "{schema}"."held"')))
    vacuum.start()
    try:
        pid = stand_in.store.conn.info.backend_pid
        while not _active(setup, pid):
            time.sleep(0.02)
        with psycopg.connect(postgres_schema_url.split("?")[0]) as writer:
            writer.execute(f"SET search_path TO {schema}")
            writer.execute("SET lock_timeout = '120s'")  # far less than the vacuum would take
            writer.execute("LOCK TABLE held IN EXCLUSIVE MODE")  # raises if not granted in time
            writer.rollback()
    finally:
        vacuum.join(180)
        stand_in.stop()
        setup.close()
    assert results == [False]
    assert stand_in.cancelled == 1 and stand_in.vacuums == 0
