"""Audit verifications in the background of a server process (``GET /api/v1/audit/verify``).

A full verification reads the whole log (tens of seconds at a hundred thousand records), so
the HTTP edge never runs one in a request: ``Verifications.status()`` answers at once from the
last verification that completed and starts a new one in a background thread when none is
running and the last is older than ``refresh_after`` seconds. At most one runs at a time in a
process, however many auditors ask. Each completed verification is kept in memory and in the
table ``audit_verifications`` beside the views (the last ``KEEP``), so that a restarted server
answers with the last one it knew.

What ``status()`` answers, beside the fields of ``adapters.audit.verify`` of the last completed
verification:

* ``state``: ``"pending"`` until a verification has completed: then ``ok`` is null,
  ``events_checked`` 0, ``first_break`` null, ``checked_to``, ``head_at_start`` and
  ``verified_at`` null. An auditor reads that as "not known yet", never as intact.
  ``"verified"`` once one checked every record up to its ``head_at_start``: ``ok`` true
  (intact up to ``checked_to``) or false (``first_break`` says where). ``"incomplete"`` when
  the last one stopped before its head (the store failed): ``ok`` null, or false if it had
  found a break, and ``incomplete`` says why; only ``checked_to`` was checked.
* ``verified_at``, ``started_at``: when the last completed verification finished and began.
* ``running``, ``running_since``: whether one runs now, and since when.
* ``last_error``: null, or ``{"at", "reason"}`` when the last attempt failed outright (the
  store could not be read at all); the last completed verification is still the one answered.

Only ``ok: true`` means intact, and only up to ``checked_to``.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from datetime import datetime, timezone
from typing import Any

from domain.service import Towns
from projections.runner import ProjectionRunner

log = logging.getLogger(__name__)

KEEP = 100
REFRESH_AFTER = 30.0
TABLE = """CREATE TABLE IF NOT EXISTS audit_verifications (
    verified_at TEXT PRIMARY KEY, started_at TEXT NOT NULL, head_at_start BIGINT NOT NULL,
    checked_to BIGINT NOT NULL, result TEXT NOT NULL)"""
PENDING = {"ok": None, "events_checked": 0, "first_break": None, "breaks": [],
           "head_at_start": None, "checked_to": None, "verified_at": None, "started_at": None}


class Verifications:
    """The verifications of one process, over ``towns`` and ``runner``'s views."""

    def __init__(self, towns: Towns, runner: ProjectionRunner,
                 refresh_after: float = REFRESH_AFTER) -> None:
        self.towns = towns
        self.runner = runner
        self.refresh_after = refresh_after
        self.started = 0  # verifications this process has started
        self._lock = threading.Lock()
        self._loaded = False
        self._last: dict[str, Any] | None = None
        self._finished = 0.0  # monotonic time the last attempt ended
        self._running_since: str | None = None
        self._error: dict[str, str] | None = None

    def status(self) -> dict[str, Any]:
        """The last completed verification and what runs now; starts one when due. Reads the
        table once, at the first call, and otherwise nothing: it never waits for a
        verification."""
        self._load()
        with self._lock:
            if self._running_since is None and self._due():
                self._start()
            last = self._last
            answer = dict(last) if last else dict(PENDING)
            answer["state"] = _state(last)
            answer["running"] = self._running_since is not None
            answer["running_since"] = self._running_since
            answer["last_error"] = self._error
        return answer

    def wait(self, timeout: float) -> bool:
        """Whether no verification runs, within ``timeout`` seconds (for tests and tools)."""
        end = time.monotonic() + timeout
        while self._running_since is not None:
            if time.monotonic() > end:
                return False
            time.sleep(0.02)
        return True

    def _due(self) -> bool:
        never = self._last is None and self._error is None
        return never or time.monotonic() - self._finished >= self.refresh_after

    def _start(self) -> None:
        self.started += 1
        self._running_since = _now()
        threading.Thread(target=self._run, args=(self._running_since,), daemon=True,
                         name="towns-audit-verify").start()

    def _run(self, started_at: str) -> None:
        from adapters.audit import verify as audit  # looked up at each run: tests slow it down

        try:
            result = audit.verify(self.towns, self.runner)
            record = {**result, "verified_at": _now(), "started_at": started_at}
            try:
                self._save(record)
            except Exception:  # noqa: BLE001 - kept in memory all the same
                log.warning("audit verification: its result could not be recorded", exc_info=True)
            with self._lock:
                self._last, self._error = record, None
        except Exception as error:  # noqa: BLE001 - any failure is answered, never raised
            log.warning("audit verification failed", exc_info=True)
            with self._lock:
                self._error = {"at": _now(), "reason": f"{type(error).__name__}: "
                               f"{' '.join(str(error).split())[:500]}"}
        finally:
            self.runner.store.close()  # this thread's connection
            with self._lock:
                self._finished, self._running_since = time.monotonic(), None

    def _load(self) -> None:
        """The last verification recorded, once per process (a store that cannot be read
        raises, and the next call tries again)."""
        if self._loaded:
            return
        from adapters.store.tables import create_tables

        create_tables(self._create)
        with self.runner.store.transaction(read_only=True) as tx:
            row = tx.one("SELECT result FROM audit_verifications "
                         "ORDER BY verified_at DESC LIMIT 1")
        with self._lock:
            if not self._loaded and self._last is None and row is not None:
                self._last = json.loads(row[0])
            self._loaded = True

    def _create(self) -> None:
        with self.runner.store.transaction() as tx:
            tx.execute(TABLE)

    def _save(self, record: dict) -> None:
        with self.runner.store.transaction() as tx:
            tx.execute("INSERT INTO audit_verifications (verified_at, started_at, head_at_start, "
                       "checked_to, result) VALUES (?, ?, ?, ?, ?)",
                       (record["verified_at"], record["started_at"], record["head_at_start"],
                        record["checked_to"], json.dumps(record, ensure_ascii=False)))
            tx.execute("DELETE FROM audit_verifications WHERE verified_at < (SELECT verified_at "
                       "FROM audit_verifications ORDER BY verified_at DESC LIMIT 1 OFFSET ?)",
                       (KEEP - 1,))


def _state(last: dict | None) -> str:
    if last is None:
        return "pending"
    return "incomplete" if last.get("incomplete") else "verified"


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="microseconds")
