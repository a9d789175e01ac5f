"""Verification that believes the witnesses, not the database.

``start(store, witnesses, keys, evidence)`` then a ``Reproduction`` fed the log's records by
``adapters.audit.verify`` as it reads them for the hash chains (one read of the log for both):

1. reads every head from every witness (never from the database) and checks each signature
   against the keys the verifier trusts (the configured signing key, and any given by hand);
   a head that does not verify, a witness line that is not a head, and two witnesses that
   hold different heads for one size are each a finding;
2. recomputes the Merkle tree from the records stored in the event store, in log order (up to
   the head of the log when verification started), and checks that each witnessed
   head's root is the root of the log's first ``size`` records, that each head's tree is a prefix
   of the next (a consistency proof from the audit view's tree, checked as any auditor would),
   and that the log still holds every record a head covers;
3. names, for the first head the log no longer reproduces, the first record that differs: where
   the audit view's stored tree still reproduces that head (it was not rewritten, or its rebuild
   was refused), leaf by leaf against it; otherwise the range between the last head that holds
   and the first that does not.

The answer is a dict (``as_dict``): ``ok``, the heads checked, the witnesses read and missing,
``findings`` (each ``{"kind", "message", ...}``), ``first_difference``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from adapters.audit.evidence.checkpoints import stored_tree
from adapters.audit.evidence.heads import TreeHead, verify_head
from adapters.audit.evidence.restores import current_heads
from adapters.audit.evidence.witnesses import Witnesses
from domain.merkle import RootAccumulator, verify_consistency
from projections.merkle import record_leaf
from projections.store import ViewStore



@dataclass
class Evidence:
    ok: bool = True
    signed: bool = True
    heads: int = 0
    latest: TreeHead | None = None
    witnesses: list[dict] = field(default_factory=list)
    missing_witnesses: list[str] = field(default_factory=list)
    findings: list[dict] = field(default_factory=list)
    first_difference: dict | None = None
    records_checked: int = 0
    unwitnessed_records: int = 0
    restores: list[dict] = field(default_factory=list)  # restore marks read from the witnesses
    superseded: list[dict] = field(default_factory=list)  # heads a restore left behind

    def fail(self, kind: str, message: str, **more: Any) -> None:
        self.ok = False
        self.findings.append({"kind": kind, "message": message, **more})

    def as_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok, "signed": self.signed, "heads_checked": self.heads,
            "latest_head": self.latest.as_dict() if self.latest else None,
            "witnesses": self.witnesses, "missing_witnesses": self.missing_witnesses,
            "findings": self.findings, "first_difference": self.first_difference,
            "records_checked": self.records_checked,
            "unwitnessed_records": self.unwitnessed_records,
            "restores": self.restores, "superseded_heads": self.superseded,
        }


def witnessed_heads(witnesses: Witnesses, keys: dict[str, Ed25519PublicKey],
                    evidence: Evidence) -> list[TreeHead]:
    """The heads every witness holds whose signatures verify, one per size, in size order;
    not those a restore from a backup left behind (``restores.current_heads``)."""
    by_size: dict[int, tuple[TreeHead, str]] = {}
    for reading in witnesses.read():
        where = f"the {reading.name} witness"
        evidence.witnesses.append({"name": reading.name, "available": reading.available,
                                   "heads": len(reading.heads)})
        for problem in reading.problems:
            if reading.available:  # a line that is not a head: the witness was written to
                evidence.fail("witness_line", problem, witness=reading.name)
            else:  # unreachable now (a broker down): said, checked against the others
                evidence.missing_witnesses.append(problem)
        for at, head in current_heads(reading, keys, evidence):
            if not head.signed:
                evidence.signed = False
            else:
                wrong = verify_head(head, keys)
                if wrong:
                    evidence.fail("bad_signature", f"{where}, entry {at}: {wrong}",
                                  witness=reading.name, size=head.size)
                    continue
            seen = by_size.get(head.size)
            if seen is None:
                by_size[head.size] = (head, reading.name)
            elif seen[0].root != head.root:
                evidence.fail("witnesses_disagree",
                              f"the {seen[1]} and {reading.name} witnesses hold different "
                              f"roots for size {head.size}", size=head.size)
    evidence.missing_witnesses += witnesses.missing()
    return [by_size[s][0] for s in sorted(by_size)]


def start(store: ViewStore, witnesses: Witnesses, keys: dict[str, Ed25519PublicKey],
          evidence: Evidence) -> list[TreeHead]:
    """Reads and checks the witnessed heads and their consistency with one another: what the
    log is then checked against (``Reproduction``)."""
    heads = witnessed_heads(witnesses, keys, evidence)
    evidence.heads = len(heads)
    evidence.latest = heads[-1] if heads else None
    if not witnesses.present:
        evidence.signed = False
    _consistent(store, heads, evidence)
    return heads


def _consistent(store: ViewStore, heads: list[TreeHead], evidence: Evidence) -> None:
    """Each head's tree is a prefix of the next: a consistency proof from the audit view's
    tree, checked against the two witnessed roots (a proof the database cannot forge: it
    would need a second preimage of SHA-256)."""
    with store.transaction(read_only=True) as tx:
        tree = stored_tree(tx)
        size = tree.size()
        for first, second in zip(heads, heads[1:]):
            if second.size > size or first.size == 0:
                continue  # the view does not hold it yet: the recomputation below covers it
            try:
                proof = tree.consistency_proof(first.size, second.size)
            except LookupError:
                continue
            if not verify_consistency(first.size, bytes.fromhex(first.root), second.size,
                                      bytes.fromhex(second.root), proof):
                evidence.fail("inconsistent_heads",
                              f"the head of size {second.size} ({second.time}) does not extend "
                              f"the head of size {first.size} ({first.time}) in the audit view's "
                              "tree", size=second.size)


class Reproduction:
    """Recomputes the tree from the stored records, fed in log order a page at a time, and
    compares it with every witnessed head as the log reaches its size."""

    def __init__(self, heads: list[TreeHead], evidence: Evidence) -> None:
        self.heads, self.evidence = heads, evidence
        self.accumulator = RootAccumulator()
        self.pending = list(heads)
        self.first_mismatch: dict | None = None  # the first record whose leaf differs

    def feed(self, tx, records: list[tuple[int, str, Any, int, str]],
             known: dict[int, tuple[bytes, int, str]] | None = None) -> None:
        """The next ``records`` of the log: (position, topic, originator id, version, SHA-256
        of the stored bytes in hex); ``tx`` reads the audit view's tree; ``known``: leaves of
        the view's tree already read, as ``_stored_leaves`` gives them (the caller read them
        with the trail's rows), which spares reading them again when they cover the records."""
        if not records:
            return
        accumulator, pending = self.accumulator, self.pending
        tree = stored_tree(tx)
        seq = accumulator.size
        stored: dict = {}
        if self.first_mismatch is None:  # once one is found, the view's leaves are not needed
            stored = known if known and all(i in known for i in range(seq, seq + len(records))) \
                else _stored_leaves(tx, tree, seq, seq + len(records))
        for position, topic, originator_id, version, sha in records:
            leaf = record_leaf(position, topic, originator_id, version, sha)
            if self.first_mismatch is None:
                kept = stored.get(accumulator.size)
                if kept is not None and kept[0] != leaf:
                    self.first_mismatch = {
                        "record": accumulator.size + 1, "position": position, "topic": topic,
                        "witnessed_position": kept[1], "witnessed_topic": kept[2]}
            accumulator.append(leaf)
            while pending and pending[0].size == accumulator.size:
                _compare(pending.pop(0), accumulator.root(), tree, self.first_mismatch,
                         self.evidence)

    def finish(self, tx) -> None:
        """After the last record: the heads the log no longer reaches."""
        tree, size = stored_tree(tx), self.accumulator.size
        self.evidence.records_checked = size
        for head in self.pending:  # heads beyond the log: records are missing
            if self.first_mismatch is not None and _view_holds(tree, head):
                _compare(head, self.accumulator.root(), tree, self.first_mismatch,
                         self.evidence)
            else:
                _missing(head, size, tree, self.evidence)
        self.pending = []
        last = self.heads[-1].size if self.heads else 0
        self.evidence.unwitnessed_records = max(0, size - last)


def _stored_leaves(tx, tree, start: int, end: int) -> dict[int, tuple[bytes, int, str]]:
    """The audit view's leaves [start, end) that it has, by leaf index: (leaf, the position and
    topic of the record it was made of)."""
    rows = tx.all(f"SELECT seq, leaf, position, topic FROM {tree.chain} WHERE seq > ? AND "
                  "seq <= ?", (start, end))
    return {int(seq) - 1: (bytes.fromhex(leaf), int(position), topic)
            for seq, leaf, position, topic in rows if leaf}


def _differs(mismatch: dict, proof: str) -> str:
    return (f"record {mismatch['record']} of the log differs from the witnessed tree: the "
            f"witnessed tree has position {mismatch['witnessed_position']} "
            f"({mismatch['witnessed_topic']}) there, the log now has position "
            f"{mismatch['position']} ({mismatch['topic']}); {proof} proves it")


def _view_holds(tree, head: TreeHead) -> bool:
    """Whether the audit view's stored tree reproduces ``head`` (so it can name records)."""
    try:
        return tree.size() >= head.size and tree.root(head.size).hex() == head.root
    except LookupError:
        return False


def _compare(head: TreeHead, root: bytes, tree, first_mismatch: dict | None,
             evidence: Evidence) -> None:
    if root.hex() == head.root:
        return
    proof = f"the head of size {head.size} signed at {head.time}"
    if evidence.first_difference is None:
        if first_mismatch is not None and _view_holds(tree, head):
            evidence.first_difference = {**first_mismatch, "head_size": head.size,
                                         "head_time": head.time}
            message = _differs(first_mismatch, proof)
        else:
            evidence.first_difference = {"record": None, "head_size": head.size,
                                         "head_time": head.time}
            message = (f"the log's first {head.size} records no longer give the root of "
                       f"{proof}; the audit view's tree does not reproduce it either, so the "
                       f"record that differs is one of the first {head.size}")
        evidence.fail("rewritten", message, size=head.size)
    else:
        evidence.fail("rewritten", f"the log no longer reproduces {proof}", size=head.size)


def _missing(head: TreeHead, size: int, tree, evidence: Evidence) -> None:
    name = ""
    try:
        row = tree.tx.one(f"SELECT position, topic FROM {tree.chain} WHERE seq = ?", (size + 1,))
        if row:
            name = f" (position {row[0]}, {row[1]} in the audit view)"
    except Exception:  # noqa: BLE001 - naming it is a courtesy
        pass
    message = (f"the log holds {size} records but the head of size {head.size} signed at "
               f"{head.time} witnessed {head.size}: record {size + 1}{name} onwards is missing")
    if evidence.first_difference is None:
        evidence.first_difference = {"record": size + 1, "head_size": head.size,
                                     "head_time": head.time}
    evidence.fail("truncated", message, size=head.size)


def from_env(public_keys: list[Ed25519PublicKey] | None = None) -> tuple[Witnesses, dict]:
    """The witnesses this deployment has and the keys a verifier trusts: the key of
    ``TOWNS_SIGNING_KEY`` where it is set, and ``public_keys`` (given by hand)."""
    from adapters.amqp.topology import amqp_url
    from adapters.audit.evidence.heads import Signer, key_id

    signer = Signer.from_env()
    keys = {signer.key_id: signer.public} if signer else {}
    keys.update({key_id(k): k for k in public_keys or []})
    return Witnesses.from_env(amqp_url()), keys


def rebuild_check(witnesses: Witnesses, keys: dict):
    """What a rebuild of the audit view asks before it switches: that its tree reproduces every
    witnessed head (signed by a trusted key) it is long enough to hold, and holds every one.
    A rebuild cannot then launder a rewrite made before it."""

    def check(tx, beside: dict[str, str]) -> str | None:
        evidence = Evidence()
        heads = witnessed_heads(witnesses, keys, evidence)
        tree = stored_tree(tx, beside)
        size = tree.size()
        for head in heads:
            if head.size > size:
                return (f"the rebuilt tree holds {size} records, but the head signed at "
                        f"{head.time} witnessed {head.size}: records are missing from the log")
            if tree.root(head.size).hex() != head.root:
                return (f"the rebuilt tree's first {head.size} records do not give the root of "
                        f"the head signed at {head.time}: the log was changed since")
        return None

    return check
