"""Stratified samples for people to read: the strata taken in turn, so small strata are seen too."""

from __future__ import annotations

import random
from typing import Hashable, TypeVar

T = TypeVar("T")


def round_robin(strata: dict[Hashable, list[T]], size: int, rng: random.Random) -> list[T]:
    """Up to `size` items: each stratum (in key order) shuffled with `rng`, then one item from each in turn."""
    pools = [rng.sample(items, len(items)) for _, items in sorted(strata.items(), key=lambda kv: kv[0])]
    chosen: list[T] = []
    while len(chosen) < size and any(pools):
        for pool in pools:
            if pool and len(chosen) < size:
                chosen.append(pool.pop())
    return chosen

