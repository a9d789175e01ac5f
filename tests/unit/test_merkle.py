"""RFC 9162 Merkle hashing, inclusion and consistency proofs (``domain.merkle``): the published
certificate-transparency vectors, and property tests over random sizes against a literal
transcription of the RFC's recursive definitions."""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from domain.merkle import (
    EMPTY_ROOT,
    MerkleTree,
    RootAccumulator,
    leaf_hash,
    node_hash,
    split,
    verify_consistency,
    verify_inclusion,
)

DATA = [bytes.fromhex(h) for h in (
    "", "00", "10", "2021", "3031", "40414243", "5051525354555657",
    "606162636465666768696a6b6c6d6e6f")]
ROOTS = [
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
]
INCLUSION = [
    (0, 1, []),
    (0, 8, ["96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"]),
    (5, 8, ["bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"]),
    (2, 3, ["fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"]),
    (1, 5, ["6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"]),
]
CONSISTENCY = [
    (1, 1, []),
    (1, 8, ["96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"]),
    (6, 8, ["0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"]),
    (2, 5, ["5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"]),
]
LEAVES = [leaf_hash(d) for d in DATA]


# -- the RFC's definitions, transcribed literally (slow, obviously right) --------------------


def _k(n: int) -> int:
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def ref_mth(d: list[bytes]) -> bytes:
    if not d:
        return hashlib.sha256(b"").digest()
    if len(d) == 1:
        return d[0]
    k = _k(len(d))
    return hashlib.sha256(b"\x01" + ref_mth(d[:k]) + ref_mth(d[k:])).digest()


def ref_path(m: int, d: list[bytes]) -> list[bytes]:
    if len(d) == 1:
        return []
    k = _k(len(d))
    if m < k:
        return [*ref_path(m, d[:k]), ref_mth(d[k:])]
    return [*ref_path(m - k, d[k:]), ref_mth(d[:k])]


def ref_subproof(m: int, d: list[bytes], b: bool) -> list[bytes]:
    n = len(d)
    if m == n:
        return [] if b else [ref_mth(d)]
    k = _k(n)
    if m <= k:
        return [*ref_subproof(m, d[:k], b), ref_mth(d[k:])]
    return [*ref_subproof(m - k, d[k:], False), ref_mth(d[:k])]


def leaves(n: int) -> list[bytes]:
    return [leaf_hash(f"record {i}".encode()) for i in range(n)]


# -- vectors ----------------------------------------------------------------------------------


def test_hashing_is_domain_separated():
    assert leaf_hash(b"abc") == hashlib.sha256(b"\x00abc").digest()
    left, right = leaf_hash(b"a"), leaf_hash(b"b")
    assert node_hash(left, right) == hashlib.sha256(b"\x01" + left + right).digest()
    assert EMPTY_ROOT.hex() == ROOTS[0]


@pytest.mark.parametrize("n", range(9))
def test_roots_match_the_published_vectors(n):
    assert MerkleTree(LEAVES[:n]).root().hex() == ROOTS[n]
    assert MerkleTree(LEAVES).root(n).hex() == ROOTS[n]
    accumulator = RootAccumulator()
    for leaf in LEAVES[:n]:
        accumulator.append(leaf)
    assert accumulator.root().hex() == ROOTS[n]


@pytest.mark.parametrize(("index", "size", "expected"), INCLUSION)
def test_inclusion_proofs_match_the_published_vectors(index, size, expected):
    tree = MerkleTree(LEAVES)
    proof = tree.inclusion_proof(index, size)
    assert [p.hex() for p in proof] == expected
    assert verify_inclusion(LEAVES[index], index, size, proof, tree.root(size))


@pytest.mark.parametrize(("first", "second", "expected"), CONSISTENCY)
def test_consistency_proofs_match_the_published_vectors(first, second, expected):
    tree = MerkleTree(LEAVES)
    proof = tree.consistency_proof(first, second)
    assert [p.hex() for p in proof] == expected
    assert verify_consistency(first, tree.root(first), second, tree.root(second), proof)


def test_split_is_the_largest_power_of_two_below():
    for n in range(2, 1100):
        assert split(n) == _k(n)
    with pytest.raises(ValueError):
        split(1)


# -- properties over random sizes --------------------------------------------------------------


@settings(max_examples=200, deadline=None)
@given(st.integers(1, 300), st.data())
def test_inclusion_proofs_agree_with_the_rfc_and_verify(size, data):
    d = leaves(size)
    tree = MerkleTree(d)
    index = data.draw(st.integers(0, size - 1))
    proof = tree.inclusion_proof(index)
    assert proof == ref_path(index, d)
    assert tree.root() == ref_mth(d)
    assert verify_inclusion(d[index], index, size, proof, tree.root())
    # another leaf, another index or another root fails
    assert not verify_inclusion(leaf_hash(b"forged"), index, size, proof, tree.root())
    if size > 1:
        assert not verify_inclusion(d[index], (index + 1) % size, size, proof, tree.root())
        assert not verify_inclusion(d[index], index, size, proof[:-1], tree.root())
    assert not verify_inclusion(d[index], index, size, [*proof, EMPTY_ROOT], tree.root())


@settings(max_examples=200, deadline=None)
@given(st.integers(1, 300), st.data())
def test_consistency_proofs_agree_with_the_rfc_and_verify(second, data):
    d = leaves(second)
    first = data.draw(st.integers(1, second))
    tree = MerkleTree(d)
    proof = tree.consistency_proof(first, second)
    assert proof == ref_subproof(first, d, True)
    assert verify_consistency(first, ref_mth(d[:first]), second, ref_mth(d), proof)
    # a changed record inside the first tree, or a first tree that is not a prefix, fails
    changed = list(d)
    changed[data.draw(st.integers(0, first - 1))] = leaf_hash(b"rewritten")
    assert not verify_consistency(first, ref_mth(changed[:first]), second, ref_mth(d), proof)
    if first < second:
        assert not verify_consistency(first, ref_mth(d[:first]), second,
                                      ref_mth(changed), proof)


@settings(max_examples=100, deadline=None)
@given(st.lists(st.binary(max_size=40), max_size=200))
def test_the_accumulator_and_the_tree_give_the_rfc_root(data):
    d = [leaf_hash(x) for x in data]
    accumulator = RootAccumulator()
    for leaf in d:
        accumulator.append(leaf)
    assert accumulator.root() == MerkleTree(d).root() == ref_mth(d)


def test_hostile_proof_arguments_are_false_not_errors():
    tree = MerkleTree(LEAVES)
    proof = tree.inclusion_proof(5)
    root = tree.root()
    assert not verify_inclusion(LEAVES[5], 8, 8, proof, root)
    assert not verify_inclusion(LEAVES[5], -1, 8, proof, root)
    assert not verify_inclusion(b"short", 5, 8, proof, root)
    assert not verify_inclusion(LEAVES[5], 5, 8, [b"short"], root)
    assert not verify_inclusion(LEAVES[5], 5, 8, proof, "not bytes")  # type: ignore[arg-type]
    assert not verify_consistency(8, root, 6, tree.root(6), [])
    assert not verify_consistency(6, tree.root(6), 8, root, [])
    assert verify_consistency(0, EMPTY_ROOT, 8, root, [])
    assert not verify_consistency(0, root, 8, root, [])
    assert verify_consistency(8, root, 8, root, [])
    assert not verify_consistency(8, root, 8, root, [root])
