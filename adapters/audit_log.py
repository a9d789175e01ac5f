"""The chain over the whole log, checked against the audit trail (``adapters.audit.verify``).

Every notification up to the audit projection's position, of every topic, is read raw from the
event store in pages and linked again (``projections.audit.log_link``); each link must match
its ``audit_chain`` row (same position, topic, SHA-256 of the stored bytes, chain hash, ordinal)
and, every ``CHECKPOINT_EVERY`` notifications, its ``audit_checkpoints`` row.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from domain.hashing import GENESIS
from domain.service import Towns
from projections import audit
from projections.audit import log_link, state_digest
from projections.runner import ProjectionRunner

PAGE = 1000
FIELDS = ("chain", "position", "topic", "call_id", "application_ref", "version", "reason")


def verify_log(towns: Towns, runner: ProjectionRunner, names: dict, apps: dict, position: int,
               breaks: list) -> tuple[int, int]:
    """Adds the first break of the log's chain to ``breaks``; the notifications linked and the
    checkpoints matched."""
    with runner.store.transaction() as tx:
        marks = {p: (h, n) for p, h, n in tx.all(
            f"SELECT position, chain_hash, events FROM {names['audit_checkpoints']}")}
    raw, rows = _notifications(towns, position), _rows(runner, names["audit_chain"], position)
    seq, previous, checkpoints = 0, GENESIS, 0
    n, row = next(raw, None), next(rows, None)
    while n is not None or row is not None:
        if row is None or (n is not None and n.id < row[0]):
            breaks.append(breach("log", apps, n, "in the log, missing from the audit chain"))
            return seq, checkpoints
        if n is None or row[0] < n.id:
            with runner.store.transaction() as tx:
                app = tx.one(f"SELECT app_id, version FROM {names['audit_events']} "
                             "WHERE position = ?", (row[0],)) or (None, None)
            breaks.append(breach("log", apps, row[0], "in the audit chain, missing from the log",
                                 *app, topic=row[2]))
            return seq, checkpoints
        seq, sha = seq + 1, state_digest(n.state)
        previous = log_link(previous, n.id, n.topic, sha)
        mark = marks.pop(n.id, None)
        reason = (
            "topic differs from the audit chain's" if n.topic != row[2]
            else "stored bytes differ from those the audit chain recorded" if sha != row[3]
            else "chain hash does not follow from the log" if previous != row[4] or seq != row[1]
            else "checkpoint missing" if mark is None and seq % audit.CHECKPOINT_EVERY == 0
            else "checkpoint does not match the chain" if mark and mark != (previous, seq)
            else None
        )
        checkpoints += mark is not None
        if reason:
            breaks.append(breach("log", apps, n, reason))
            return seq, checkpoints
        n, row = next(raw, None), next(rows, None)
    if marks:
        breaks.append(breach("log", apps, min(marks), "checkpoint names no notification of the chain"))
    return seq, checkpoints


def _notifications(towns: Towns, stop: int) -> Iterator[Any]:
    start = 0
    while page := towns.recorder.select_notifications(
        start=start, limit=PAGE, stop=stop, inclusive_of_start=False
    ):
        yield from page
        start = page[-1].id


def _rows(runner: ProjectionRunner, table: str, stop: int) -> Iterator[tuple]:
    start = 0
    while True:
        with runner.store.transaction() as tx:
            page = tx.all(f"SELECT position, seq, topic, state_sha256, chain_hash FROM {table} "
                          "WHERE position > ? AND position <= ? ORDER BY position LIMIT ?",
                          (start, stop, PAGE))
        if not page:
            return
        yield from page
        start = page[-1][0]


def breach(chain: str, apps: dict, where: Any, reason: str, app_id: str | None = None,
           version: int | None = None, topic: str | None = None) -> dict:
    """A break; ``where`` is a notification, a position or None."""
    position = getattr(where, "id", where)
    if hasattr(where, "originator_id"):
        app_id, version, topic = str(where.originator_id), where.originator_version, where.topic
    call_id, ref = apps.get(app_id, (None, None)) if app_id else (None, None)
    if ref is None:
        version = None
    return dict(zip(FIELDS, (chain, position, topic, call_id, ref, version, reason)))
