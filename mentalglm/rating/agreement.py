"""What a set of ratings says, per system and criterion: the mean over items with a bootstrap 95 % interval, and how
far raters agree: Krippendorff's alpha (ordinal and interval, from the `krippendorff` package), raw agreement (the
share of agreeing rater pairs per item, averaged) and Gwet's AC1 (which, unlike alpha, does not collapse when nearly
every score is the same); and the Spearman correlation, over items, between an automatic metric and the mean human
score."""

from __future__ import annotations

import math
import random
from collections import defaultdict
from typing import Iterable, Sequence

from mentalglm.rating.readers import Rating
from mentalglm.tasks.rubric import SCORES


def rating_matrix(ratings: Iterable[Rating]) -> tuple[list[str], list[str], list[list[float]]]:
    """(raters, items, matrix raters x items with NaN where a rater did not rate an item)."""
    ratings = list(ratings)
    raters = sorted({r.rater for r in ratings})
    items = sorted({r.item for r in ratings})
    col = {item: j for j, item in enumerate(items)}
    row = {rater: i for i, rater in enumerate(raters)}
    matrix = [[math.nan] * len(items) for _ in raters]
    for r in ratings:
        matrix[row[r.rater]][col[r.item]] = float(r.score)
    return raters, items, matrix


def krippendorff_alpha(matrix: list[list[float]], level: str) -> float | None:
    """Krippendorff's alpha at `level` (ordinal, interval) over the 0-3 scale; None when it is undefined (fewer than
    two pairable values, or a single value used throughout)."""
    import krippendorff
    import numpy as np

    data = np.array(matrix, dtype=float)
    pairable = (np.sum(~np.isnan(data), axis=0) >= 2).sum()
    values = set(data[~np.isnan(data)].tolist())
    if pairable == 0 or len(values) < 2:
        return None
    return float(krippendorff.alpha(reliability_data=data, level_of_measurement=level,
                                    value_domain=[float(s) for s in SCORES]))


def _item_columns(matrix: list[list[float]]) -> list[list[int]]:
    return [[int(v) for v in column if not math.isnan(v)] for column in zip(*matrix)]


def raw_agreement(matrix: list[list[float]]) -> float | None:
    """Mean over items (with ≥ 2 ratings) of the share of rater pairs that gave the same score."""
    shares = []
    for scores in _item_columns(matrix):
        n = len(scores)
        if n < 2:
            continue
        same = sum(scores.count(s) * (scores.count(s) - 1) for s in set(scores))
        shares.append(same / (n * (n - 1)))
    return sum(shares) / len(shares) if shares else None


def gwet_ac1(matrix: list[list[float]]) -> float | None:
    """Gwet's AC1 for several raters and the 0-3 categories (Gwet 2008), over items with ≥ 2 ratings."""
    columns = [c for c in _item_columns(matrix) if len(c) >= 2]
    if not columns:
        return None
    q = len(SCORES)
    pa = sum(sum(c.count(k) * (c.count(k) - 1) for k in SCORES) / (len(c) * (len(c) - 1)) for c in columns)
    pa /= len(columns)
    pi = {k: sum(c.count(k) / len(c) for c in columns) / len(columns) for k in SCORES}
    pe = sum(p * (1 - p) for p in pi.values()) / (q - 1)
    return (pa - pe) / (1 - pe) if pe < 1 else None


def item_means(ratings: Iterable[Rating]) -> dict[str, float]:
    """item -> mean score over its raters."""
    by_item: dict[str, list[int]] = defaultdict(list)
    for r in ratings:
        by_item[r.item].append(r.score)
    return {item: sum(s) / len(s) for item, s in by_item.items()}


def bootstrap_mean(values: Sequence[float], resamples: int, seed: int) -> tuple[float, float, float]:
    """(mean, 2.5th and 97.5th percentile of the means of `resamples` resamples of `values`, with replacement)."""
    rng = random.Random(seed)
    n = len(values)
    means = sorted(sum(values[rng.randrange(n)] for _ in range(n)) / n for _ in range(resamples))
    return sum(values) / n, means[int(0.025 * resamples)], means[min(resamples - 1, int(0.975 * resamples))]


def spearman(x: Sequence[float], y: Sequence[float]) -> tuple[float | None, float | None]:
    """(rho, two-sided p) over pairs; None when fewer than 3 pairs or a constant side."""
    from scipy.stats import spearmanr

    if len(x) < 3 or len(set(x)) < 2 or len(set(y)) < 2:
        return None, None
    result = spearmanr(x, y)
    return float(result.statistic), float(result.pvalue)
