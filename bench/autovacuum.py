"""What a deployed PostgreSQL's autovacuum does to a run's tables, for a server where it is off.

A server's autovacuum is on by default; the machine the figures come from runs with it off. A
long run without it measures bloat no deployment has: the views update each application's rows
six times, and their dead rows and stale statistics slow every write as the run goes on. So
where ``SHOW autovacuum`` says off, ``Autovacuum`` applies autovacuum's own rules to the run's
schema, with the server's own settings (PostgreSQL 15, "Routine Vacuuming", 25.1.6):

- every ``autovacuum_naptime``, each table's counters are read from ``pg_stat_user_tables``;
- a table is vacuumed when its dead rows pass ``autovacuum_vacuum_threshold`` +
  ``autovacuum_vacuum_scale_factor`` × its rows, or the rows inserted since its last vacuum pass
  ``autovacuum_vacuum_insert_threshold`` + ``autovacuum_vacuum_insert_scale_factor`` × its rows;
- it is analysed when the rows changed since its last analysis pass
  ``autovacuum_analyze_threshold`` + ``autovacuum_analyze_scale_factor`` × its rows;
- at autovacuum's pace: ``vacuum_cost_delay`` and ``vacuum_cost_limit`` set to
  ``autovacuum_vacuum_cost_delay`` and ``autovacuum_vacuum_cost_limit`` (-1: the plain limit).

One table at a time (a server may run up to ``autovacuum_max_workers`` at once); what it did is
counted and said.

And, as autovacuum does, it gives way: a vacuum or analysis that holds up another session's
lock request for ``deadlock_timeout`` is cancelled (unless it guards against wraparound, which
none here does), and the table is tried again when next due. That matters for whatever locks a
table in a mode a vacuum's lock conflicts with: a read model's switch after a rebuild (it renames
tables), or an event store whose writers lock their table in EXCLUSIVE mode (eventsourcing's
own recorder; the service's writers take an advisory lock instead). A stand-in that never gave
way would hold those for the whole of a throttled vacuum, which no server does.
"""

from __future__ import annotations

import threading
import time

from psycopg.errors import QueryCanceled

from bench.store import Store

_SETTINGS = ("autovacuum", "autovacuum_naptime", "autovacuum_vacuum_threshold",
             "autovacuum_vacuum_scale_factor", "autovacuum_vacuum_insert_threshold",
             "autovacuum_vacuum_insert_scale_factor", "autovacuum_analyze_threshold",
             "autovacuum_analyze_scale_factor", "autovacuum_vacuum_cost_delay",
             "autovacuum_vacuum_cost_limit", "vacuum_cost_limit", "deadlock_timeout")

_HELD_UP = """
SELECT extract(epoch FROM now() - min(l.waitstart)) FROM pg_locks l
WHERE NOT l.granted AND %s = ANY(pg_blocking_pids(l.pid))
"""
"""How long the longest lock request held up by the session ``%s`` has waited, in seconds."""

_COUNTERS = """
SELECT s.relname, greatest(c.reltuples, 0), s.n_dead_tup, s.n_ins_since_vacuum,
       s.n_mod_since_analyze
FROM pg_stat_user_tables s JOIN pg_class c ON c.oid = s.relid
WHERE s.schemaname = %s ORDER BY s.relname
"""


def due(settings: dict[str, float], rows: float, dead: int, inserted: int,
        changed: int) -> tuple[bool, bool]:
    """(vacuum, analyse): what autovacuum's rules ask for a table with these counters."""
    vacuum = (dead > settings["autovacuum_vacuum_threshold"]
              + settings["autovacuum_vacuum_scale_factor"] * rows
              or inserted > settings["autovacuum_vacuum_insert_threshold"]
              + settings["autovacuum_vacuum_insert_scale_factor"] * rows)
    analyse = changed > (settings["autovacuum_analyze_threshold"]
                         + settings["autovacuum_analyze_scale_factor"] * rows)
    return vacuum, analyse


class Autovacuum:
    """Autovacuum's rules applied to the run's schema, in a thread, where the server's is off."""

    def __init__(self, db_url: str) -> None:
        self.store = Store(db_url)
        shown = {name: self.store.one(f"SELECT setting FROM pg_settings WHERE name = '{name}'")[0]
                 for name in _SETTINGS}
        self.off = shown.pop("autovacuum") == "off"
        self.settings = {name: float(value) for name, value in shown.items()}
        self.vacuums = self.analyses = self.cancelled = 0
        self.watch = Store(db_url)  # the lock requests a vacuum holds up, seen from beside it
        self.seconds = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="autovacuum", daemon=True)

    def run(self) -> Autovacuum:
        if self.off:
            limit = self.settings["autovacuum_vacuum_cost_limit"]
            if limit < 0:
                limit = self.settings["vacuum_cost_limit"]
            self.store.conn.execute(
                f"SET vacuum_cost_delay = '{self.settings['autovacuum_vacuum_cost_delay']}ms'")
            self.store.conn.execute(f"SET vacuum_cost_limit = {int(limit)}")
            self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.wait(self.settings["autovacuum_naptime"]):
            rows = self.store.conn.execute(_COUNTERS, (self.store.schema,)).fetchall()
            for table, tuples, dead, inserted, changed in rows:
                if self._stop.is_set():
                    return
                vacuum, analyse = due(self.settings, tuples, dead, inserted, changed)
                if not (vacuum or analyse):
                    continue
                started = time.monotonic()
                name = f'"{self.store.schema}"."{table}"'
                if self.run_giving_way(f"VACUUM {'(ANALYZE) ' if analyse else ''}{name}"
                                       if vacuum else f"ANALYZE {name}"):
                    self.vacuums += vacuum
                    self.analyses += analyse
                self.seconds += time.monotonic() - started

    def run_giving_way(self, statement: str) -> bool:
        """Runs a VACUUM or ANALYZE as autovacuum would: cancelled once it has held up another
        session's lock request for ``deadlock_timeout``. True when it ran to its end."""
        done = threading.Event()
        watcher = threading.Thread(target=self._give_way, daemon=True,
                                   args=(self.store.conn.info.backend_pid, done))
        watcher.start()
        try:
            self.store.conn.execute(statement)
            return True
        except QueryCanceled:
            self.cancelled += 1
            return False
        finally:
            done.set()
            watcher.join()

    def _give_way(self, pid: int, done: threading.Event) -> None:
        limit = self.settings["deadlock_timeout"] / 1000  # the setting is in milliseconds
        while not done.wait(0.05):
            waited = self.watch.one(_HELD_UP, (pid,))[0]
            if waited is not None and float(waited) >= limit:
                self.watch.one("SELECT pg_cancel_backend(%s)", (pid,))
                return

    def stop(self) -> str:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(600)
        self.store.close()
        self.watch.close()
        if not self.off:
            return "the server's autovacuum is on"
        return (f"the server's autovacuum is off: its rules applied in its stead every "
                f"{self.settings['autovacuum_naptime']:.0f} s at its pace ({self.vacuums} "
                f"vacuums, {self.analyses} analyses, {self.seconds:.0f} s in all; "
                f"{self.cancelled} cancelled, as autovacuum is, after holding up a lock request "
                f"for deadlock_timeout, {self.settings['deadlock_timeout']:.0f} ms)")
