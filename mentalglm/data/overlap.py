"""When two posts count as the same post: a normalised key for exact matches, MinHash LSH for near ones.

`post_key` folds what a repost or a re-encoding changes without changing the post: NFKC (full-width and
half-width forms), case, whitespace and punctuation (Unicode categories P* and S*). Two posts with equal keys
are duplicates.

`NearDuplicateIndex` finds, for a post, the indexed posts whose character-shingle sets (3-grams of the key) have a
Jaccard similarity at or above a threshold. MinHash signatures (64 hashes) are split into 16 bands of 4; posts
sharing a band become candidates, verified with the exact Jaccard (so a reported match is always at or above the
threshold). A lookup stops at the first verified candidate and checks at most `max_checks` (64) of them, so the
cost stays linear in the number of posts even when thousands of near-copies of one text share buckets.
"""

from __future__ import annotations

import unicodedata
import zlib
from collections import defaultdict
from typing import Iterable, Sequence

SHINGLE = 3
_PERMUTATIONS = 64
_BAND_ROWS = 4
_PRIME = 4294967291  # the largest prime below 2**32
_CHUNK = 4096  # posts hashed per numpy batch: bounds memory at ~CHUNK x 60 shingles x 64 x 8 bytes


def post_key(post: str) -> str:
    """The normalised form under which two posts count as the same: NFKC, case-folded, without whitespace,
    punctuation or symbols."""
    folded = unicodedata.normalize("NFKC", post).casefold()
    return "".join(ch for ch in folded if unicodedata.category(ch)[0] not in "PSZC")


def shingles(key: str, size: int = SHINGLE) -> set[str]:
    """Character `size`-grams of a post key (the key itself when it is shorter)."""
    if len(key) <= size:
        return {key} if key else set()
    return {key[i:i + size] for i in range(len(key) - size + 1)}


def jaccard(a: set[str], b: set[str]) -> float:
    """|a ∩ b| / |a ∪ b| (0 for two empty sets)."""
    union = len(a | b)
    return len(a & b) / union if union else 0.0


def _signatures(shingle_sets: Sequence[set[str]]):
    """MinHash signatures, one row of `_PERMUTATIONS` uint64 values per set (deterministic across runs)."""
    import numpy as np

    rng = np.random.default_rng(20240611)
    a = rng.integers(1, 2**31 - 1, size=_PERMUTATIONS, dtype=np.uint64)
    b = rng.integers(0, 2**31 - 1, size=_PERMUTATIONS, dtype=np.uint64)
    out = np.full((len(shingle_sets), _PERMUTATIONS), _PRIME, dtype=np.uint64)
    for lo in range(0, len(shingle_sets), _CHUNK):
        chunk = shingle_sets[lo:lo + _CHUNK]
        hashes = [zlib.crc32(s.encode("utf-8")) for shingle_set in chunk for s in sorted(shingle_set)]
        sizes = np.array([len(s) for s in chunk])
        if not hashes:
            continue
        values = (np.array(hashes, dtype=np.uint64)[:, None] * a + b) % np.uint64(_PRIME)
        starts = np.concatenate([[0], np.cumsum(sizes)[:-1]])
        nonempty = sizes > 0
        out[lo:lo + len(chunk)][nonempty] = np.minimum.reduceat(values, starts[nonempty], axis=0)
    return out


class NearDuplicateIndex:
    """Posts indexed by MinHash LSH; `first_matches` finds, per query, an indexed post at or above `threshold`."""

    def __init__(self, keys: Iterable[str], threshold: float, max_checks: int = 64):
        self.threshold, self.max_checks = threshold, max_checks
        self.sets = [shingles(k) for k in keys]
        self.buckets: dict[tuple[int, bytes], list[int]] = defaultdict(list)
        for i, row in enumerate(_signatures(self.sets)):
            if self.sets[i]:
                for band, key in self._bands(row):
                    self.buckets[(band, key)].append(i)

    @staticmethod
    def _bands(row) -> Iterable[tuple[int, bytes]]:
        for band in range(_PERMUTATIONS // _BAND_ROWS):
            yield band, row[band * _BAND_ROWS:(band + 1) * _BAND_ROWS].tobytes()

    def first_matches(self, keys: Sequence[str]) -> list[int | None]:
        """For each key, an indexed post whose Jaccard similarity with it is >= threshold, or None.

        Candidates are checked band by band and the first verified one is returned, at most `max_checks` per key:
        a post that shares bands with very many indexed near-copies of one text stays linear instead of
        verifying them all (a true match shares most of its bands, so it is met early).
        """
        sets = [shingles(k) for k in keys]
        out: list[int | None] = []
        for shingle_set, row in zip(sets, _signatures(sets)):
            out.append(self._first_match(shingle_set, row) if shingle_set else None)
        return out

    def _first_match(self, shingle_set: set[str], row) -> int | None:
        checked: set[int] = set()
        for band, key in self._bands(row):
            for i in self.buckets.get((band, key), ()):
                if i in checked:
                    continue
                if jaccard(shingle_set, self.sets[i]) >= self.threshold:
                    return i
                checked.add(i)
                if len(checked) >= self.max_checks:
                    return None
        return None
