"""Merkle trees over the notification log, hashed as RFC 9162 (certificate transparency) has it.

A leaf is ``SHA-256(0x00 ‖ record bytes)``, an interior node ``SHA-256(0x01 ‖ left ‖ right)``; the
tree of n leaves splits at the largest power of two below n, so every left subtree is perfect and
never changes once complete. That is what makes a tree head signed at size m provable against
any later head (a consistency proof) and any record provable against a head (an inclusion proof)
with O(log n) hashes, and what lets a store keep only perfect subtrees.

``MerkleTree`` keeps every perfect node in memory (tests, verification, exports);
``RootAccumulator`` gives the root of a stream of leaves in O(log n) memory; the proof functions
take any ``subtree(start, end)`` that answers MTH(D[start:end]), so a database-backed tree serves
them too. The verification functions are the RFC's algorithms: every argument is hostile, and a
proof that does not check is False, never an exception.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Sequence

HASH_SIZE = 32
EMPTY_ROOT = hashlib.sha256(b"").digest()
"""MTH of the empty tree: SHA-256 of the empty string."""

Subtree = Callable[[int, int], bytes]
"""MTH(D[start:end]) of a tree's leaves, for 0 <= start < end <= size."""


def leaf_hash(data: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def split(n: int) -> int:
    """The largest power of two smaller than ``n`` (n >= 2): where RFC 9162 splits a tree."""
    if n < 2:
        raise ValueError(f"a tree of {n} leaves does not split (n >= 2)")
    return 1 << ((n - 1).bit_length() - 1)


def _perfect(start: int, end: int) -> int | None:
    """The level of D[start:end] when it is a perfect, aligned subtree, else None."""
    size = end - start
    if size & (size - 1) or start % size:
        return None
    return size.bit_length() - 1


# -- proofs ---------------------------------------------------------------------------------------


def inclusion_proof(subtree: Subtree, index: int, size: int) -> list[bytes]:
    """PATH(index, D[size]) (RFC 9162 §2.1.3.1): the hashes that lead leaf ``index`` to the root
    of the first ``size`` leaves."""
    if not 0 <= index < size:
        raise ValueError(f"leaf {index} is outside a tree of {size}")
    path: list[bytes] = []
    start, end = 0, size
    while end - start > 1:
        k = split(end - start)
        if index < start + k:
            path.append(subtree(start + k, end))
            end = start + k
        else:
            path.append(subtree(start, start + k))
            start += k
    path.reverse()
    return path


def consistency_proof(subtree: Subtree, first: int, second: int) -> list[bytes]:
    """PROOF(first, D[second]) (RFC 9162 §2.1.4.1): what shows the tree of ``first`` leaves is a
    prefix of the tree of ``second``. Empty when the sizes are equal."""
    if not 0 < first <= second:
        raise ValueError(f"no consistency proof from {first} to {second} leaves")
    proof: list[bytes] = []
    start, end, complete = 0, second, True
    m = first
    while m != end - start:
        k = split(end - start)
        if m <= k:
            proof.append(subtree(start + k, end))
            end = start + k
        else:
            proof.append(subtree(start, start + k))
            start, m, complete = start + k, m - k, False
    if not complete:
        proof.append(subtree(start, end))
    proof.reverse()
    return proof


def _valid_hash(value: object) -> bool:
    return isinstance(value, bytes) and len(value) == HASH_SIZE


def verify_inclusion(leaf: bytes, index: int, size: int, proof: Sequence[bytes],
                     root: bytes) -> bool:
    """RFC 9162 §2.1.3.2: whether ``proof`` leads ``leaf`` at ``index`` to ``root``."""
    if not (_valid_hash(leaf) and _valid_hash(root) and all(map(_valid_hash, proof))):
        return False
    if not isinstance(index, int) or not isinstance(size, int) or not 0 <= index < size:
        return False
    fn, sn, r = index, size - 1, leaf
    for p in proof:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            if not fn & 1:
                while fn and not fn & 1:
                    fn, sn = fn >> 1, sn >> 1
        else:
            r = node_hash(r, p)
        fn, sn = fn >> 1, sn >> 1
    return sn == 0 and r == root


def verify_consistency(first: int, first_root: bytes, second: int, second_root: bytes,
                       proof: Sequence[bytes]) -> bool:
    """RFC 9162 §2.1.4.2: whether ``proof`` shows the tree of ``first`` leaves with
    ``first_root`` is a prefix of the tree of ``second`` leaves with ``second_root``."""
    if not (_valid_hash(first_root) and _valid_hash(second_root)
            and all(map(_valid_hash, proof))):
        return False
    if not isinstance(first, int) or not isinstance(second, int) or not 0 <= first <= second:
        return False
    if first == 0:
        return first_root == EMPTY_ROOT and not proof
    if first == second:
        return first_root == second_root and not proof
    if not proof:
        return False
    path = list(proof)
    if first & (first - 1) == 0:
        path.insert(0, first_root)
    fn, sn = first - 1, second - 1
    while fn & 1:
        fn, sn = fn >> 1, sn >> 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr, sr = node_hash(c, fr), node_hash(c, sr)
            if not fn & 1:
                while fn and not fn & 1:
                    fn, sn = fn >> 1, sn >> 1
        else:
            sr = node_hash(sr, c)
        fn, sn = fn >> 1, sn >> 1
    return fr == first_root and sr == second_root and sn == 0


# -- trees ----------------------------------------------------------------------------------------


class MerkleTree:
    """Every perfect node of a growing tree, in memory: ``levels[k][i]`` is MTH of leaves
    ``[i·2^k, (i+1)·2^k)``. Appending a leaf adds the nodes it completes (two hashes a leaf
    on average); roots and proofs at any size are read from them."""

    def __init__(self, leaves: Iterable[bytes] = ()) -> None:
        self.levels: list[list[bytes]] = [[]]
        self.extend(leaves)

    @property
    def size(self) -> int:
        return len(self.levels[0])

    def append(self, leaf: bytes) -> None:
        self.levels[0].append(leaf)
        level, index = 0, len(self.levels[0]) - 1
        while index & 1:
            parent = node_hash(self.levels[level][index - 1], self.levels[level][index])
            level, index = level + 1, index >> 1
            if len(self.levels) == level:
                self.levels.append([])
            self.levels[level].append(parent)

    def extend(self, leaves: Iterable[bytes]) -> None:
        for leaf in leaves:
            self.append(leaf)

    def subtree(self, start: int, end: int) -> bytes:
        """MTH(D[start:end]) for 0 <= start < end <= size."""
        if not 0 <= start < end <= self.size:
            raise ValueError(f"no subtree [{start}, {end}) in a tree of {self.size}")
        level = _perfect(start, end)
        if level is not None:
            return self.levels[level][start >> level]
        k = split(end - start)
        return node_hash(self.subtree(start, start + k), self.subtree(start + k, end))

    def root(self, size: int | None = None) -> bytes:
        """MTH(D[size]) (the whole tree when None)."""
        size = self.size if size is None else size
        return EMPTY_ROOT if size == 0 else self.subtree(0, size)

    def inclusion_proof(self, index: int, size: int | None = None) -> list[bytes]:
        return inclusion_proof(self.subtree, index, self.size if size is None else size)

    def consistency_proof(self, first: int, second: int | None = None) -> list[bytes]:
        return consistency_proof(self.subtree, first, self.size if second is None else second)


class RootAccumulator:
    """The root of a stream of leaves in O(log n) memory: the stack of perfect subtrees that
    the leaves so far make (one per set bit of the count)."""

    def __init__(self) -> None:
        self.size = 0
        self._stack: list[bytes] = []

    def append(self, leaf: bytes) -> None:
        self._stack.append(leaf)
        self.size += 1
        count = self.size
        while not count & 1:
            right = self._stack.pop()
            self._stack.append(node_hash(self._stack.pop(), right))
            count >>= 1

    def root(self) -> bytes:
        if not self._stack:
            return EMPTY_ROOT
        value = self._stack[-1]
        for left in reversed(self._stack[:-1]):
            value = node_hash(left, value)
        return value
