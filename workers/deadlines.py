"""Deadlines in the database, not in broker delays (ARCHITECTURE.md): one ``deadline_checks``
row per call and cutoff, and a scheduler tick that sends the idempotent check of every row due.

RabbitMQ's consumer timeout, dramatiq's in-memory delay queue and its age limit make a message
delayed for weeks unreliable, so nothing is delayed: the rows say what is due, and any tick
after ``due_at`` sends it; the first tick after a downtime catches up whatever came due
meanwhile (the 2017 call's check at the very first start). One scheduler at a time: a tick runs
under the ``scheduler`` lock (an advisory lock on PostgreSQL, a file lock on SQLite) and skips
when another holds it. A row stays ``sent`` until the check actor marks it ``done``; a ``sent``
row is sent again once ``resend_after`` has passed, so a lost message or a crashed worker
delays a check, never loses it (the check is idempotent: a repeat changes nothing).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from domain.calls import Call
from projections.store import ViewStore

TABLE = """
CREATE TABLE IF NOT EXISTS deadline_checks (
    call_id TEXT NOT NULL,
    cutoff TEXT NOT NULL,
    due_at TEXT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('pending', 'sent', 'done')),
    sent_at TEXT,
    done_at TEXT,
    PRIMARY KEY (call_id, cutoff)
)
"""
LOCK = "scheduler"
PENDING, SENT, DONE = "pending", "sent", "done"


def utc(moment: datetime) -> str:
    """A fixed-width UTC ISO 8601 text, so that the database can compare instants as text."""
    return moment.astimezone(timezone.utc).isoformat(timespec="microseconds")


@dataclass(frozen=True)
class DeadlineRow:
    call_id: str
    cutoff: str  # the call's cutoff as configured (ISO 8601 with its offset)
    due_at: str  # cutoff + grace, UTC
    state: str
    sent_at: str | None
    done_at: str | None


class DeadlineSchedule:
    """The ``deadline_checks`` table and the tick. ``send(call_id, cutoff)`` hands one check to
    the workers (the ``check_deadline`` actor); tests pass a fake."""

    def __init__(self, store: ViewStore, send: Callable[[str, str], object],
                 resend_after: timedelta = timedelta(seconds=60)) -> None:
        self.store = store
        self.send = send
        self.resend_after = resend_after
        self.configured: set[tuple[str, str]] = set()

    def setup(self) -> None:
        with self.store.transaction() as tx:
            tx.execute(TABLE)

    def plan(self, calls: Iterable[Call]) -> None:
        """One row per configured call and cutoff (idempotent). A changed cutoff is a new row;
        a changed grace moves the row's ``due_at``; rows of cutoffs no longer configured stay,
        as history, and are never sent."""
        rows = [(c.id, c.cutoff.isoformat(), utc(c.check_due_at)) for c in calls]
        self.configured = {(call_id, cutoff) for call_id, cutoff, _ in rows}
        with self.store.transaction() as tx:
            tx.executemany(
                "INSERT INTO deadline_checks (call_id, cutoff, due_at, state) "
                f"VALUES (?, ?, ?, '{PENDING}') "
                "ON CONFLICT (call_id, cutoff) DO UPDATE SET due_at = excluded.due_at",
                rows,
            )

    def tick(self, now: datetime) -> list[tuple[str, str]] | None:
        """Sends every configured check due at ``now`` and not done (a ``sent`` one only after
        ``resend_after``); the (call, cutoff) pairs sent, or None when another scheduler holds
        the lock."""
        resend_before = utc(now - self.resend_after)
        with self.store.transaction() as tx:
            if not tx.try_lock(LOCK):
                return None
            due = tx.all(
                f"SELECT call_id, cutoff FROM deadline_checks WHERE due_at <= ? AND "
                f"(state = '{PENDING}' OR (state = '{SENT}' AND sent_at <= ?)) "
                "ORDER BY due_at, call_id",
                (utc(now), resend_before),
            )
            sent = [(call_id, cutoff) for call_id, cutoff in due
                    if (call_id, cutoff) in self.configured]
            for call_id, cutoff in sent:
                # The row is updated (and so locked) before the message leaves: an actor that
                # marks it done at once waits for this commit instead of being overwritten by
                # it. A send or a commit that fails leaves the row due, to be sent again,
                # which the check's idempotency makes harmless.
                tx.execute(
                    f"UPDATE deadline_checks SET state = '{SENT}', sent_at = ? "
                    "WHERE call_id = ? AND cutoff = ?",
                    (utc(now), call_id, cutoff),
                )
                self.send(call_id, cutoff)
            return sent

    def due(self, now: datetime) -> list[tuple[str, str]]:
        """The configured checks due at ``now`` and not done (read without the lock: what a
        tick at ``now`` would consider)."""
        with self.store.transaction() as tx:
            found = tx.all(f"SELECT call_id, cutoff FROM deadline_checks WHERE due_at <= ? AND "
                           f"state <> '{DONE}' ORDER BY due_at, call_id", (utc(now),))
        return [(call_id, cutoff) for call_id, cutoff in found
                if (call_id, cutoff) in self.configured]

    def done(self, call_id: str, cutoff: str, now: datetime) -> None:
        """The check of this call and cutoff has run: the row is never sent again."""
        with self.store.transaction() as tx:
            tx.execute(
                f"UPDATE deadline_checks SET state = '{DONE}', done_at = ? "
                f"WHERE call_id = ? AND cutoff = ? AND state <> '{DONE}'",
                (utc(now), call_id, cutoff),
            )

    def rows(self) -> list[DeadlineRow]:
        with self.store.transaction() as tx:
            found = tx.all("SELECT call_id, cutoff, due_at, state, sent_at, done_at "
                           "FROM deadline_checks ORDER BY due_at, call_id, cutoff")
        return [DeadlineRow(*row) for row in found]
