"""RFC 9162 Merkle trees: hashing, roots, inclusion and consistency proofs.

Standard library only: the offline verifier (`python -m custody.verify`) imports this module with no
Django and no database.

Proof generation works over a *subtree hash source*: anything that can return the hash of complete,
aligned subtrees, addressed as (level, index) where the subtree at level `l` and index `i` covers
leaves [i * 2**l, (i + 1) * 2**l). Every range the RFC 9162 algorithms need (MTH of D[a:b] inside
PATH and SUBPROOF) starts at a multiple of the largest power of two not above its length, so it is
the right-folded hash of O(log n) such subtrees. A store that keeps every complete subtree therefore
answers any root or proof for any size with O(log n) reads and no rebuilding.

Edge semantics, decided deliberately (the transparency-dev test vectors differ on one):
- every hash handed to a verifier must be exactly 32 bytes, roots included, even where the sizes
  alone would decide (equal sizes compare roots, and a root that is no hash is an error);
- a consistency proof from size 0 proves nothing and is refused; callers treat the empty tree as
  consistent with every tree without asking for a proof;
- equal sizes are consistent exactly when the proof is empty and the roots are equal.
"""

from __future__ import annotations

import hashlib
from collections.abc import Collection, Iterable, Mapping, Sequence
from typing import Protocol

HASH_SIZE = 32
EMPTY_ROOT = hashlib.sha256(b"").digest()
_LEAF_PREFIX = b"\x00"
_NODE_PREFIX = b"\x01"

Coordinate = tuple[int, int]
"""(level, index) of a complete subtree: leaves [index * 2**level, (index + 1) * 2**level)."""


class ProofError(ValueError):
    """A proof, hash or size does not verify; the message says what is wrong."""


def leaf_hash(data: bytes) -> bytes:
    """SHA-256(0x00 || data): the hash of one leaf (for Voltrace, `data` is a 32-byte event hash)."""
    return hashlib.sha256(_LEAF_PREFIX + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """SHA-256(0x01 || left || right): the hash of an interior node."""
    return hashlib.sha256(_NODE_PREFIX + left + right).digest()


def _largest_power_of_two_below(n: int) -> int:
    """The largest power of two strictly less than n (n >= 2)."""
    return 1 << ((n - 1).bit_length() - 1)


def root_from_leaf_hashes(leaf_hashes: Iterable[bytes]) -> bytes:
    """MTH over leaf hashes in order, in one pass with a stack of complete subtrees."""
    stack: list[tuple[int, bytes]] = []  # (level, hash), levels strictly decreasing towards the top
    for leaf in leaf_hashes:
        level, current = 0, leaf
        while stack and stack[-1][0] == level:
            current = node_hash(stack.pop()[1], current)
            level += 1
        stack.append((level, current))
    if not stack:
        return EMPTY_ROOT
    root = stack.pop()[1]
    while stack:
        root = node_hash(stack.pop()[1], root)
    return root


def complete_subtrees(start: int, end: int) -> list[Coordinate]:
    """The aligned complete subtrees covering leaves [start, end), left to right, largest first."""
    if not 0 <= start <= end:
        raise ValueError(f"invalid leaf range [{start}, {end})")
    coordinates: list[Coordinate] = []
    position = start
    while position < end:
        # The largest block that is aligned at `position` and still fits before `end`.
        level = (end - position).bit_length() - 1
        if position:
            level = min(level, (position & -position).bit_length() - 1)
        coordinates.append((level, position >> level))
        position += 1 << level
    return coordinates


def fold_subtrees(hashes: Sequence[bytes]) -> bytes:
    """Combine the hashes of `complete_subtrees(a, b)` into MTH(D[a:b]) (right fold)."""
    if not hashes:
        return EMPTY_ROOT
    result = hashes[-1]
    for left in reversed(hashes[:-1]):
        result = node_hash(left, result)
    return result


class SubtreeHashSource(Protocol):
    """Anything that returns the hashes of complete subtrees it was asked for, in one read."""

    def subtree_hashes(self, coordinates: Collection[Coordinate]) -> Mapping[Coordinate, bytes]: ...


def range_hashes(source: SubtreeHashSource, ranges: Sequence[tuple[int, int]]) -> list[bytes]:
    """MTH of each [start, end) range, reading every needed subtree from `source` in one call."""
    decompositions = [complete_subtrees(start, end) for start, end in ranges]
    wanted = {coordinate for decomposition in decompositions for coordinate in decomposition}
    found = source.subtree_hashes(wanted)
    missing = wanted - found.keys()
    if missing:
        raise LookupError(f"the store lacks complete subtrees {sorted(missing)[:5]}")
    return [fold_subtrees([found[c] for c in decomposition]) for decomposition in decompositions]


def root_at(source: SubtreeHashSource, size: int) -> bytes:
    """MTH of the first `size` leaves, from O(log size) stored subtrees."""
    return range_hashes(source, [(0, size)])[0]


def inclusion_ranges(index: int, size: int) -> list[tuple[int, int]]:
    """The leaf ranges whose MTHs form PATH(index, D[0:size]) (RFC 9162 2.1.3.1), leaf end first."""
    if not 0 <= index < size:
        raise ValueError(f"leaf index {index} is not inside a tree of size {size}")
    ranges: list[tuple[int, int]] = []
    start, end = 0, size
    while end - start > 1:
        k = _largest_power_of_two_below(end - start)
        if index < start + k:
            ranges.append((start + k, end))
            end = start + k
        else:
            ranges.append((start, start + k))
            start += k
    ranges.reverse()
    return ranges


def inclusion_proof(source: SubtreeHashSource, index: int, size: int) -> list[bytes]:
    """The RFC 9162 inclusion path of leaf `index` in the tree of `size` leaves."""
    return range_hashes(source, inclusion_ranges(index, size))


def consistency_ranges(first: int, second: int) -> list[tuple[int, int]]:
    """The leaf ranges whose MTHs form PROOF(first, D[0:second]) (RFC 9162 2.1.4.1), deepest first."""
    if not 0 < first <= second:
        raise ValueError(f"no consistency proof from size {first} to size {second}")
    ranges: list[tuple[int, int]] = []
    start, end, m, complete = 0, second, first, True
    while m != end - start:
        k = _largest_power_of_two_below(end - start)
        if m <= k:
            ranges.append((start + k, end))
            end = start + k
        else:
            ranges.append((start, start + k))
            start, m, complete = start + k, m - k, False
    if not complete:
        ranges.append((start, end))
    ranges.reverse()
    return ranges


def consistency_proof(source: SubtreeHashSource, first: int, second: int) -> list[bytes]:
    """The RFC 9162 consistency proof between the trees of `first` and `second` leaves."""
    return range_hashes(source, consistency_ranges(first, second))


def frontier(size: int) -> list[Coordinate]:
    """The complete subtrees of a tree of `size` leaves that can still gain a right sibling."""
    return complete_subtrees(0, size)


def appended_subtrees(
    start: int, new_leaf_hashes: Sequence[bytes], frontier_hashes: Mapping[Coordinate, bytes]
) -> list[tuple[int, int, bytes]]:
    """Every complete subtree of level >= 1 that appending these leaves at `start` completes.

    `frontier_hashes` holds the hashes of `frontier(start)` (only the level of each matters: at most
    one per level, always a left sibling). Returns (level, index, hash) rows, lowest level first.
    """
    left_edge = {level: digest for (level, _index), digest in frontier_hashes.items()}
    end = start + len(new_leaf_hashes)
    row = list(new_leaf_hashes)  # hashes of level `level`, indices [start >> level, end >> level)
    level = 0
    created: list[tuple[int, int, bytes]] = []
    while (end >> (level + 1)) > (start >> (level + 1)):
        first_index = start >> level
        parents: list[bytes] = []
        for parent in range(start >> (level + 1), end >> (level + 1)):
            left_index = 2 * parent
            if left_index < first_index:
                left = left_edge.get(level)
                if left is None:
                    raise LookupError(f"the frontier lacks the subtree at level {level}")
            else:
                left = row[left_index - first_index]
            right = row[left_index + 1 - first_index]
            digest = node_hash(left, right)
            parents.append(digest)
            created.append((level + 1, parent, digest))
        row = parents
        level += 1
    return created


def root_after_append(
    start: int,
    new_leaf_hashes: Sequence[bytes],
    frontier_hashes: Mapping[Coordinate, bytes],
    created: Iterable[tuple[int, int, bytes]],
) -> bytes:
    """The root after an append, from the old frontier, the new leaves and the subtrees it created."""
    end = start + len(new_leaf_hashes)
    known: dict[Coordinate, bytes] = dict(frontier_hashes)
    known.update(((0, start + offset), digest) for offset, digest in enumerate(new_leaf_hashes))
    known.update(((level, index), digest) for level, index, digest in created)
    return fold_subtrees([known[c] for c in frontier(end)])


class MemoryTree:
    """An in-memory log keeping every complete subtree: the reference store for tests and benchmarks."""

    def __init__(self) -> None:
        self.levels: list[list[bytes]] = [[]]
        self.reads = 0

    @property
    def size(self) -> int:
        return len(self.levels[0])

    def append_leaf_hashes(self, leaf_hashes: Sequence[bytes]) -> None:
        start = self.size
        edge = {c: self.levels[c[0]][c[1]] for c in frontier(start)}
        created = appended_subtrees(start, leaf_hashes, edge)
        self.levels[0].extend(leaf_hashes)
        for level, index, digest in created:
            while len(self.levels) <= level:
                self.levels.append([])
            if len(self.levels[level]) != index:
                raise LookupError(f"subtree ({level}, {index}) created out of order")
            self.levels[level].append(digest)

    def subtree_hashes(self, coordinates: Collection[Coordinate]) -> dict[Coordinate, bytes]:
        self.reads += len(coordinates)
        return {(level, index): self.levels[level][index] for level, index in coordinates}


def _check_hash(value: bytes, what: str) -> None:
    if not isinstance(value, bytes | bytearray) or len(value) != HASH_SIZE:
        length = len(value) if isinstance(value, bytes | bytearray) else type(value).__name__
        raise ProofError(f"{what} must be a {HASH_SIZE}-byte hash, got {length}")


def root_from_inclusion_proof(leaf: bytes, index: int, size: int, proof: Sequence[bytes]) -> bytes:
    """The root implied by an inclusion path (RFC 9162 2.1.3.2 steps 1-5 without the comparison)."""
    _check_hash(leaf, "the leaf hash")
    for position, element in enumerate(proof):
        _check_hash(element, f"inclusion path element {position}")
    if index < 0 or size <= 0 or index >= size:
        raise ProofError(f"leaf index {index} is not inside a tree of size {size}")
    fn, sn, result = index, size - 1, leaf
    for element in proof:
        if sn == 0:
            raise ProofError("the inclusion path is longer than the tree is deep")
        if fn & 1 or fn == sn:
            result = node_hash(element, result)
            while not fn & 1 and fn != 0:
                fn, sn = fn >> 1, sn >> 1
        else:
            result = node_hash(result, element)
        fn, sn = fn >> 1, sn >> 1
    if sn != 0:
        raise ProofError("the inclusion path is shorter than the tree is deep")
    return result


def verify_inclusion(*, leaf: bytes, index: int, size: int, proof: Sequence[bytes], root: bytes) -> None:
    """Check that the leaf hash `leaf` sits at `index` in the tree of `size` leaves with `root`.

    `leaf` is the leaf hash (use `leaf_hash(event_hash)`). Raises ProofError naming the fault.
    """
    _check_hash(root, "the root hash")
    if root_from_inclusion_proof(leaf, index, size, proof) != root:
        raise ProofError(f"the inclusion path of leaf {index} does not lead to the root of size {size}")


def verify_consistency(
    *, first: int, second: int, first_root: bytes, second_root: bytes, proof: Sequence[bytes]
) -> None:
    """Check that the tree of `second` leaves extends the tree of `first` leaves (RFC 9162 2.1.4.2).

    Raises ProofError naming the fault.
    """
    _check_hash(first_root, "the first root")
    _check_hash(second_root, "the second root")
    for position, element in enumerate(proof):
        _check_hash(element, f"consistency path element {position}")
    if first <= 0:
        raise ProofError("a consistency proof needs a first tree size of at least 1")
    if first > second:
        raise ProofError(f"the first size {first} is larger than the second size {second}")
    if first == second:
        if proof:
            raise ProofError("a consistency proof between equal sizes must be empty")
        if first_root != second_root:
            raise ProofError(f"two different roots for the same tree size {first}")
        return
    if not proof:
        raise ProofError("the consistency path is empty")
    path = list(proof)
    if first & (first - 1) == 0:  # an exact power of two: the old root is itself a node of the path
        path.insert(0, first_root)
    fn, sn = first - 1, second - 1
    while fn & 1:
        fn, sn = fn >> 1, sn >> 1
    fr = sr = path[0]
    for element in path[1:]:
        if sn == 0:
            raise ProofError("the consistency path is longer than the tree is deep")
        if fn & 1 or fn == sn:
            fr = node_hash(element, fr)
            sr = node_hash(element, sr)
            while not fn & 1 and fn != 0:
                fn, sn = fn >> 1, sn >> 1
        else:
            sr = node_hash(sr, element)
        fn, sn = fn >> 1, sn >> 1
    if sn != 0:
        raise ProofError("the consistency path is shorter than the tree is deep")
    if fr != first_root:
        raise ProofError(f"the consistency path does not lead to the root of size {first}")
    if sr != second_root:
        raise ProofError(f"the consistency path does not lead to the root of size {second}")
