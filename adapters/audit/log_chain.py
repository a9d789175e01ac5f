"""The chain over the whole log, for ``adapters.audit.verify``: every notification up to the
head is linked again from its stored bytes (``projections.audit.log_link``), and wherever the
audit trail recorded it, compared with its ``audit_chain`` row (same topic, SHA-256 of the
stored bytes, chain hash, ordinal) and, every ``CHECKPOINT_EVERY`` rows, its
``audit_checkpoints`` row.

The trail need not have recorded everything: it may be behind the head, and a record it could
not take may have been set aside (the trail then links its next row over it). Such records are
checked from their stored bytes alone (``outside`` counts them, and the records after a break
of this chain; ``adapters.audit.chains`` decodes them). A gap the trail did not link over, a row without a record, a record that differs from
its row: each is a break. Only the first break of this chain is reported; after it, the trail's
later rows cannot be compared any more, and the records are checked from their bytes alone.
"""

from __future__ import annotations

from typing import Any

from domain.hashing import GENESIS
from projections import audit
from projections.audit import log_link, state_digest

FIELDS = ("chain", "position", "topic", "call_id", "application_ref", "version", "reason")
SHOWN = 20
"""How many positions of records outside the trail a result lists."""


class LogChain:
    """Fed the log's notifications in order with the trail's row at each (``record``) and the
    trail's rows that name no notification (``orphan``); ``finish`` after the last."""

    def __init__(self, names: dict, marks: dict[int, tuple]) -> None:
        self.names = names  # application id -> (call, ref), to name breaks
        self.marks = marks  # the trail's checkpoints: position -> (chain hash, ordinal)
        self.linked = 0  # notifications linked: events_checked
        self.head = GENESIS  # the chain over every notification linked
        self.checkpoints = 0
        self.outside: list[int] = []  # the first SHOWN positions checked from bytes alone
        self.outside_count = 0
        self.broken: dict | None = None
        self.sha = ""  # the SHA-256 of the last record's stored bytes, in hex
        self._recorded = (0, GENESIS)  # ordinal and chain hash of the trail's last row matched
        self._unrecorded: list[tuple] = []  # records the trail had no row for, since that row

    def record(self, n: Any, row: tuple | None, recorded: bool) -> bool:
        """Links notification ``n`` (a ``projections.base.Recorded``); whether the trail's ``row`` (position, seq, topic,
        state_sha256, chain_hash) vouches for its bytes. ``recorded``: the trail has read past
        ``n`` (so a missing row is a record it set aside, or a row removed)."""
        sha = self.sha = state_digest(n.state)
        self.linked += 1
        self.head = log_link(self.head, n.position, n.topic, sha)
        if self.broken is not None or row is None:
            if row is None and recorded and self.broken is None:
                self._unrecorded.append((n.position, n.topic, sha, n.originator_id, n.originator_version))
            else:
                self._outside(n.position)
            return False
        if self._unrecorded and not self._skipped(n.position, n.topic, sha, row):
            self._break(self._unrecorded[0], "in the log, missing from the audit chain")
            self._outside(n.position)
            return False
        seq, previous = self._recorded[0] + 1, log_link(self._recorded[1], n.position, n.topic, sha)
        mark = self.marks.pop(n.position, None)
        reason = (
            "topic differs from the audit chain's" if n.topic != row[2]
            else "stored bytes differ from those the audit chain recorded" if sha != row[3]
            else "chain hash does not follow from the log" if previous != row[4] or seq != row[1]
            else "checkpoint missing" if mark is None and seq % audit.CHECKPOINT_EVERY == 0
            else "checkpoint does not match the chain" if mark and mark != (previous, seq)
            else None
        )
        self.checkpoints += mark is not None
        if reason:
            self._break(n, reason)
            return False
        self._recorded = (seq, previous)
        return True

    def orphan(self, row: tuple, app: tuple) -> None:
        """A row of the trail at a position where the log has no notification."""
        if self.broken is None:
            self._break(row[0], "in the audit chain, missing from the log", *app, topic=row[2])

    def finish(self) -> None:
        """Records the trail passed without a row and no later row to link over them were
        set aside by it: they were checked from their bytes alone."""
        for left in self._unrecorded:
            self._outside(left[0])
        self._unrecorded = []
        if self.broken is None and self.marks:
            self._break(min(self.marks), "checkpoint names no notification of the chain")

    def _skipped(self, position: int, topic: str, sha: str, row: tuple) -> bool:
        """Whether the trail linked ``row`` over the records it has no row for (it set them
        aside) rather than through them (their rows were removed)."""
        seq, previous = self._recorded
        over = row[1] == seq + 1 and row[4] == log_link(previous, position, topic, sha)
        if over:
            for left in self._unrecorded:
                self._outside(left[0])
            self._unrecorded = []
        return over

    def _outside(self, position: int) -> None:
        self.outside_count += 1
        if len(self.outside) < SHOWN:
            self.outside.append(position)

    def _break(self, where: Any, reason: str, app_id: str | None = None,
               version: int | None = None, topic: str | None = None) -> None:
        self.broken = breach("log", self.names, where, reason, app_id, version, topic)
        for left in self._unrecorded:
            self._outside(left[0])
        self._unrecorded = []


def breach(chain: str, apps: dict, where: Any, reason: str, app_id: str | None = None,
           version: int | None = None, topic: str | None = None) -> dict:
    """A break; ``where`` is a notification (``projections.base.Recorded``), a (position,
    topic, sha, originator id, version) tuple of one, a position, or None."""
    if hasattr(where, "originator_id"):
        app_id, version, topic = str(where.originator_id), where.originator_version, where.topic
        where = where.position
    elif isinstance(where, tuple):
        where, topic, app_id, version = where[0], where[1], str(where[3]), where[4]
    position = where
    call_id, ref = apps.get(app_id, (None, None)) if app_id else (None, None)
    if ref is None:
        version = None
    return dict(zip(FIELDS, (chain, position, topic, call_id, ref, version, reason)))
