"""RFC 9162 Merkle tree hashing, inclusion and consistency proofs (generate and verify).

Pure and small on purpose: the offline verifier (``platinum-verify``) imports it without any
database or service code. Hashes are SHA-256 with the RFC's domain separation: a leaf is
``SHA-256(0x00 || leaf)``, an interior node ``SHA-256(0x01 || left || right)``, and the tree
over ``n`` leaves splits at the largest power of two smaller than ``n`` (RFC 9162 §2.1.1).
Proof generation takes the leaf *hashes*; verification follows §2.1.3.2 and §2.1.4.2 as
written. The RFC 6962 / transparency-dev test vectors pin the bytes
(``tests/unit/domain/test_merkle.py``).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

EMPTY_ROOT = hashlib.sha256(b"").digest()


class ProofError(ValueError):
    """A proof was asked for sizes or an index the tree does not have."""


def leaf_hash(leaf: bytes) -> bytes:
    """``SHA-256(0x00 || leaf)``."""
    return hashlib.sha256(b"\x00" + leaf).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """``SHA-256(0x01 || left || right)``."""
    return hashlib.sha256(b"\x01" + left + right).digest()


def _split(n: int) -> int:
    """The largest power of two strictly smaller than ``n`` (n >= 2)."""
    return 1 << ((n - 1).bit_length() - 1)


def root(hashes: Sequence[bytes]) -> bytes:
    """MTH over the leaf hashes (the empty tree's root is ``SHA-256("")``).

    Iterative, bottom-up: pairing left to right and carrying an odd last node up unchanged
    gives the same tree as the RFC's split at the largest power of two."""
    if not hashes:
        return EMPTY_ROOT
    level = list(hashes)
    while len(level) > 1:
        nxt = [node_hash(level[i], level[i + 1]) for i in range(0, len(level) - 1, 2)]
        if len(level) % 2:
            nxt.append(level[-1])
        level = nxt
    return level[0]


def extend_range(compact: Sequence[bytes], size: int, hashes: Sequence[bytes]) -> list[bytes]:
    """The compact range of a tree of ``size`` leaves after appending ``hashes``.

    A tree's compact range is the roots of its perfect subtrees, largest (leftmost) first, one
    per set bit of the size: all a log needs to grow and to compute its root without reading
    its old leaves (``range_root``)."""
    stack = list(compact)
    if len(stack) != size.bit_count():
        raise ProofError(f"a compact range of a tree of {size} leaves has {size.bit_count()}")
    for h in hashes:
        node, n = h, size
        while n & 1:  # merge with the perfect subtrees of equal size on the right edge
            node, n = node_hash(stack.pop(), node), n >> 1
        stack.append(node)
        size += 1
    return stack


def range_root(compact: Sequence[bytes]) -> bytes:
    """The root of the tree whose compact range this is (the empty tree's for none)."""
    if not compact:
        return EMPTY_ROOT
    node = compact[-1]
    for h in reversed(compact[:-1]):
        node = node_hash(h, node)
    return node


def inclusion_proof(index: int, hashes: Sequence[bytes]) -> list[bytes]:
    """The audit path of leaf ``index`` in the tree over ``hashes`` (RFC 9162 §2.1.3.1)."""
    if not 0 <= index < len(hashes):
        raise ProofError(f"leaf {index} is not in a tree of {len(hashes)} leaves")
    return _path(index, hashes)


def _path(m: int, d: Sequence[bytes]) -> list[bytes]:
    n = len(d)
    if n == 1:
        return []
    k = _split(n)
    if m < k:
        return [*_path(m, d[:k]), root(d[k:])]
    return [*_path(m - k, d[k:]), root(d[:k])]


def consistency_proof(old_size: int, hashes: Sequence[bytes]) -> list[bytes]:
    """The proof that the first ``old_size`` leaves' tree is a prefix of the tree over
    ``hashes`` (RFC 9162 §2.1.4.1); empty when the sizes are equal."""
    if not 0 < old_size <= len(hashes):
        raise ProofError(f"no consistency proof from size {old_size} to size {len(hashes)}")
    return _subproof(old_size, hashes, True)


def _subproof(m: int, d: Sequence[bytes], whole: bool) -> list[bytes]:
    n = len(d)
    if m == n:
        return [] if whole else [root(d)]
    k = _split(n)
    if m <= k:
        return [*_subproof(m, d[:k], whole), root(d[k:])]
    return [*_subproof(m - k, d[k:], False), root(d[:k])]


def verify_inclusion(
    index: int, size: int, leaf: bytes, proof: Sequence[bytes], expected_root: bytes
) -> bool:
    """RFC 9162 §2.1.3.2: does ``proof`` place the leaf hash ``leaf`` at ``index`` of the
    tree of ``size`` leaves whose root is ``expected_root``?"""
    if not 0 <= index < size:
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
    return sn == 0 and r == expected_root


def verify_consistency(
    old_size: int, new_size: int, proof: Sequence[bytes], old_root: bytes, new_root: bytes
) -> bool:
    """RFC 9162 §2.1.4.2: does ``proof`` show the tree ``(old_size, old_root)`` is a prefix
    of the tree ``(new_size, new_root)``?"""
    if old_size == new_size:
        return not proof and old_root == new_root
    if not 0 < old_size < new_size or not proof:
        return False
    path = list(proof)
    if old_size & (old_size - 1) == 0:  # a power of two: the old root starts the path
        path.insert(0, old_root)
    fn, sn = old_size - 1, new_size - 1
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
    return fr == old_root and sr == new_root and sn == 0
