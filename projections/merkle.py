"""The log's Merkle tree (``domain.merkle``) as the audit view stores it.

Leaf ``i`` is the record of sequence number ``i + 1`` in ``audit_chain`` (every notification of
the log, in order), its hash in the row's ``leaf`` column:
``SHA-256(0x00 ‖ position "\\n" topic "\\n" originator id "\\n" version "\\n" SHA-256(stored
bytes) in hex)``: the stored record whole, with its place in the log. Perfect nodes of ``LOW`` levels and above go to
``audit_merkle`` as they complete (about one row per ``2**LOW`` leaves); nodes below that are
hashed again from at most ``2**LOW`` leaves when a proof needs them. ``Frontier`` carries the
pending left nodes of the growing tree from one batch to the next.
"""

from __future__ import annotations

from collections.abc import Iterable

from domain.merkle import EMPTY_ROOT, consistency_proof, inclusion_proof, leaf_hash, node_hash

LOW = 4
NODES_DDL = """CREATE TABLE IF NOT EXISTS {name} (
    level INTEGER NOT NULL, idx BIGINT NOT NULL, hash TEXT NOT NULL,
    PRIMARY KEY (level, idx))"""


def record_leaf(position: int, topic: str, originator_id: object, version: int,
                state_sha256: str) -> bytes:
    """The leaf hash of one record of the log: its place, topic, aggregate and version, each
    followed by a newline, then the SHA-256 of its stored bytes in hex (what the log chain
    covers too, so the bytes are hashed once for both)."""
    return leaf_hash(f"{position}\n{topic}\n{originator_id}\n{version}\n{state_sha256}"
                     .encode("utf-8"))


class StoredTree:
    """Reads the tree of one audit view (live or being rebuilt) through a transaction."""

    def __init__(self, tx, chain: str, nodes: str) -> None:
        self.tx, self.chain, self.nodes = tx, chain, nodes
        self._cache: dict[tuple[int, int], bytes] = {}

    def size(self) -> int:
        row = self.tx.one(f"SELECT MAX(seq) FROM {self.chain}")
        return int(row[0] or 0) if row else 0

    def leaves(self, start: int, end: int) -> list[bytes]:
        """The leaf hashes of leaves [start, end)."""
        rows = self.tx.all(f"SELECT seq, leaf FROM {self.chain} WHERE seq > ? AND seq <= ? "
                           "ORDER BY seq", (start, end))
        if len(rows) != end - start or any(leaf is None for _, leaf in rows):
            raise LookupError(f"the audit view lacks leaves {start}..{end - 1} of its tree "
                              "(rebuild it: towns projections rebuild audit)")
        return [bytes.fromhex(leaf) for _, leaf in rows]

    def node(self, level: int, index: int) -> bytes:
        """The perfect node of ``level`` covering leaves [index·2^level, (index+1)·2^level)."""
        cached = self._cache.get((level, index))
        if cached is not None:
            return cached
        if level >= LOW:
            row = self.tx.one(f"SELECT hash FROM {self.nodes} WHERE level = ? AND idx = ?",
                              (level, index))
            if row is None:
                raise LookupError(f"the audit view lacks node {level}/{index} of its tree")
            return bytes.fromhex(row[0])
        start = index << level
        hashes = self.leaves(start, start + (1 << level))
        while len(hashes) > 1:
            hashes = [node_hash(hashes[i], hashes[i + 1]) for i in range(0, len(hashes), 2)]
        return hashes[0]

    def subtree(self, start: int, end: int) -> bytes:
        size = end - start
        if size & (size - 1) == 0 and start % size == 0:
            return self.node(size.bit_length() - 1, start // size)
        k = 1 << ((size - 1).bit_length() - 1)
        return node_hash(self.subtree(start, start + k), self.subtree(start + k, end))

    def root(self, size: int) -> bytes:
        return EMPTY_ROOT if size == 0 else self.subtree(0, size)

    def inclusion_proof(self, index: int, size: int) -> list[bytes]:
        return inclusion_proof(self.subtree, index, size)

    def inclusion_proofs(self, indexes: list[int], size: int) -> list[list[bytes]]:
        """The proofs of several leaves, their nodes read in a few queries: which perfect nodes
        a proof needs depends on the indexes and the size alone, so they are found first (with
        no hashes) and read together."""
        wanted: set[tuple[int, int]] = set()

        def note(start: int, end: int) -> bytes:
            wanted.update(_perfect_nodes(start, end))
            return b""

        for index in indexes:
            inclusion_proof(note, index, size)
        self._read(wanted)
        return [inclusion_proof(self.subtree, index, size) for index in indexes]

    def _read(self, wanted: set[tuple[int, int]]) -> None:
        """Reads the ``wanted`` perfect nodes into the cache: stored ones in one query a few
        hundred at a time, lower ones from their leaves, also read together."""
        high = sorted(n for n in wanted if n[0] >= LOW and n not in self._cache)
        for start in range(0, len(high), 300):
            chunk = high[start:start + 300]
            where = " OR ".join("(level = ? AND idx = ?)" for _ in chunk)
            for level, idx, value in self.tx.all(
                    f"SELECT level, idx, hash FROM {self.nodes} WHERE {where}",
                    [v for node in chunk for v in node]):
                self._cache[(int(level), int(idx))] = bytes.fromhex(value)
        low = sorted(n for n in wanted if n[0] < LOW and n not in self._cache)
        seqs = sorted({(i << level) + k + 1 for level, i in low for k in range(1 << level)})
        leaves: dict[int, bytes] = {}
        for start in range(0, len(seqs), 500):
            chunk = seqs[start:start + 500]
            marks = ", ".join("?" for _ in chunk)
            for seq, leaf in self.tx.all(f"SELECT seq, leaf FROM {self.chain} WHERE seq IN "
                                         f"({marks})", chunk):
                if leaf is not None:
                    leaves[int(seq) - 1] = bytes.fromhex(leaf)
        for level, i in low:
            hashes = [leaves.get((i << level) + k) for k in range(1 << level)]
            if None in hashes:
                continue  # ``node`` reads it again and says what is missing
            while len(hashes) > 1:
                hashes = [node_hash(hashes[j], hashes[j + 1]) for j in range(0, len(hashes), 2)]
            self._cache[(level, i)] = hashes[0]

    def consistency_proof(self, first: int, second: int) -> list[bytes]:
        return consistency_proof(self.subtree, first, second)

    def frontier(self, size: int) -> Frontier:
        """The pending nodes of the tree of ``size`` leaves, read from the store."""
        pending = {}
        for level in range(size.bit_length()):
            if size >> level & 1:
                pending[level] = self.node(level, (size >> level) - 1)
        return Frontier(size, pending)


def _perfect_nodes(start: int, end: int):
    """The perfect nodes (level, index) that MTH(D[start:end]) is made of."""
    size = end - start
    if size & (size - 1) == 0 and start % size == 0:
        level = size.bit_length() - 1
        yield level, start >> level
        return
    k = 1 << ((size - 1).bit_length() - 1)
    yield from _perfect_nodes(start, start + k)
    yield from _perfect_nodes(start + k, end)


class Frontier:
    """The perfect subtrees a tree of ``size`` leaves ends with, one per set bit of ``size``
    (``pending[level]``): all that appending the next leaf needs."""

    def __init__(self, size: int = 0, pending: dict[int, bytes] | None = None) -> None:
        self.size = size
        self.pending = dict(pending or {})

    def append(self, leaf: bytes) -> list[tuple[int, int, bytes]]:
        """Adds a leaf; the perfect nodes of level ``LOW`` or above that it completes, as
        (level, index, hash)."""
        made: list[tuple[int, int, bytes]] = []
        node, level, index = leaf, 0, self.size
        while index & 1:
            node = node_hash(self.pending.pop(level), node)
            level, index = level + 1, index >> 1
            if level >= LOW:
                made.append((level, index, node))
        self.pending[level] = node
        self.size += 1
        return made

    def extend(self, leaves: Iterable[bytes]) -> list[tuple[int, int, bytes]]:
        made: list[tuple[int, int, bytes]] = []
        for leaf in leaves:
            made += self.append(leaf)
        return made

    def root(self) -> bytes:
        value = None
        for level in sorted(self.pending):
            value = self.pending[level] if value is None else node_hash(self.pending[level], value)
        return EMPTY_ROOT if value is None else value

    def copy(self) -> Frontier:
        return Frontier(self.size, self.pending)
