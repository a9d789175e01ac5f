"""Tree heads as the service makes them: at a cadence, from the audit view's Merkle tree, signed,
kept in ``audit_heads`` beside the views (for reading and paging) and written to the witnesses
(for believing).

A head is due when the audit view holds ``every`` records more than the last head, or when it
holds any more and ``seconds`` have passed since the last head, or when asked (after a deadline
check). One process signs at a time (a lock on ``audit_heads``); a head is never made for a size
the last head already covers. ``audit_heads`` is not part of the audit view, so a rebuild of the
view keeps it.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from datetime import datetime, timezone

from adapters.config import ConfigError
from adapters.audit.evidence.heads import Signer, TreeHead, unsigned_head
from adapters.audit.evidence.witnesses import Witnesses
from projections.audit import AuditTrail
from projections.merkle import StoredTree
from projections.store import Tx, ViewStore

log = logging.getLogger("towns.audit")
HEADS = "audit_heads"
HEADS_DDL = f"""CREATE TABLE IF NOT EXISTS {HEADS} (
    size BIGINT PRIMARY KEY, root TEXT NOT NULL, time TEXT NOT NULL, key_id TEXT,
    signature TEXT, witness_failures TEXT NOT NULL)"""
EVERY_ENV, SECONDS_ENV = "TOWNS_HEAD_EVERY", "TOWNS_HEAD_SECONDS"


@dataclass(frozen=True)
class Cadence:
    every: int = 1000
    seconds: float = 60.0

    @classmethod
    def from_env(cls) -> Cadence:
        every = os.environ.get(EVERY_ENV, "").strip()
        seconds = os.environ.get(SECONDS_ENV, "").strip()
        try:
            made = cls(int(every) if every else 1000, float(seconds) if seconds else 60.0)
        except ValueError:
            raise ConfigError(f"{EVERY_ENV} must be a whole number of records and "
                              f"{SECONDS_ENV} a number of seconds") from None
        if made.every < 1 or not made.seconds > 0:
            raise ConfigError(f"{EVERY_ENV} and {SECONDS_ENV} must be positive")
        return made


def setup_heads(store: ViewStore) -> None:
    with store.transaction() as tx:
        tx.execute(HEADS_DDL)


def stored_tree(tx: Tx, names: dict[str, str] | None = None) -> StoredTree:
    """The tree of the audit view (the live one unless ``names`` says otherwise)."""
    names = names or AuditTrail().live_names()
    return StoredTree(tx, names["audit_chain"], names["audit_merkle"])


class Checkpoints:
    def __init__(self, store: ViewStore, signer: Signer | None, witnesses: Witnesses,
                 cadence: Cadence | None = None) -> None:
        self.store = store
        self.signer = signer
        self.witnesses = witnesses
        self.cadence = cadence or Cadence()

    def setup(self) -> None:
        setup_heads(self.store)

    # -- making heads ------------------------------------------------------------------------

    def due(self, last: TreeHead | None, size: int, now: datetime) -> bool:
        if size == 0 or (last is not None and last.size >= size):
            return False
        if last is None or size - last.size >= self.cadence.every:
            return True
        return (now - datetime.fromisoformat(last.time)).total_seconds() >= self.cadence.seconds

    def sign_if_due(self, force: bool = False) -> TreeHead | None:
        """Makes, stores and witnesses a head when one is due (``force``: whenever the view
        holds records the last head does not cover); the head, or None."""
        now = datetime.now(timezone.utc)
        with self.store.transaction() as tx:
            if not tx.try_lock(HEADS):
                return None  # another process signs now
            tree = stored_tree(tx)
            size = tree.size()
            last = latest(tx)
            if not (self.due(last, size, now) or (force and size > (last.size if last else 0))):
                return None
            root = tree.root(size)
            head = self.signer.head(size, root, now) if self.signer else unsigned_head(size, root, now)
            tx.execute(f"INSERT INTO {HEADS} (size, root, time, key_id, signature, "
                       "witness_failures) VALUES (?, ?, ?, ?, ?, '')",
                       (head.size, head.root, head.time, head.key_id, head.signature))
        failures = self.witnesses.append(head)
        if failures:
            with self.store.transaction() as tx:
                tx.execute(f"UPDATE {HEADS} SET witness_failures = ? WHERE size = ?",
                           ("; ".join(failures)[:2000], head.size))
        return head


# -- reading heads ---------------------------------------------------------------------------


def _head(row: tuple) -> TreeHead:
    return TreeHead(int(row[0]), row[1], row[2], row[3], row[4])


def latest(tx: Tx) -> TreeHead | None:
    row = tx.one(f"SELECT size, root, time, key_id, signature FROM {HEADS} "
                 "ORDER BY size DESC LIMIT 1")
    return _head(row) if row else None


def heads_page(tx: Tx, after: int, limit: int) -> list[TreeHead]:
    """Heads by size, after the size ``after``; ``limit`` of them."""
    rows = tx.all(f"SELECT size, root, time, key_id, signature FROM {HEADS} WHERE size > ? "
                  "ORDER BY size LIMIT ?", (after, limit))
    return [_head(r) for r in rows]


def witness_failures(tx: Tx, limit: int = 20) -> list[tuple[int, str]]:
    return [(int(s), f) for s, f in tx.all(
        f"SELECT size, witness_failures FROM {HEADS} WHERE witness_failures <> '' "
        "ORDER BY size DESC LIMIT ?", (limit,))]
