"""Explanation quality: ROUGE-1/2/L and BLEU-4 on jieba tokens, and grounding of quoted evidence in the post."""

from __future__ import annotations

import logging
import math
from collections import Counter
from typing import Sequence

from mentalglm.tasks.evidence import grounded_spans



def tokenize_zh(text: str) -> list[str]:
    """jieba word tokens of `text`, whitespace dropped."""
    import jieba

    jieba.setLogLevel(logging.WARNING)
    return [t for t in jieba.lcut(text or "") if t.strip()]


def _ngrams(tokens: list[str], n: int) -> Counter:
    return Counter(tuple(tokens[i:i + n]) for i in range(len(tokens) - n + 1))


def _f1(overlap: int, n_pred: int, n_ref: int) -> float:
    if overlap == 0 or n_pred == 0 or n_ref == 0:
        return 0.0
    p, r = overlap / n_pred, overlap / n_ref
    return 2 * p * r / (p + r)


def rouge_n(pred: list[str], ref: list[str], n: int) -> float:
    """ROUGE-N F1 of two token lists."""
    p, r = _ngrams(pred, n), _ngrams(ref, n)
    return _f1(sum((p & r).values()), sum(p.values()), sum(r.values()))


def _lcs(a: list[str], b: list[str]) -> int:
    row = [0] * (len(b) + 1)
    for x in a:
        prev = 0
        for j, y in enumerate(b, start=1):
            cur = row[j]
            row[j] = prev + 1 if x == y else max(row[j], row[j - 1])
            prev = cur
    return row[-1]


def rouge_l(pred: list[str], ref: list[str]) -> float:
    """ROUGE-L F1 (longest common subsequence) of two token lists."""
    return _f1(_lcs(pred, ref), len(pred), len(ref))


def corpus_bleu4(preds: Sequence[list[str]], refs: Sequence[list[str]]) -> float:
    """Corpus BLEU-4 (uniform weights, brevity penalty, one reference per prediction), in [0, 1]."""
    matches, totals = [0] * 4, [0] * 4
    pred_len = ref_len = 0
    for pred, ref in zip(preds, refs):
        pred_len, ref_len = pred_len + len(pred), ref_len + len(ref)
        for n in range(1, 5):
            p, r = _ngrams(pred, n), _ngrams(ref, n)
            matches[n - 1] += sum((p & r).values())
            totals[n - 1] += sum(p.values())
    if min(matches) == 0 or pred_len == 0:
        return 0.0
    log_precision = sum(math.log(m / t) for m, t in zip(matches, totals)) / 4
    brevity = 1.0 if pred_len > ref_len else math.exp(1 - ref_len / pred_len)
    return brevity * math.exp(log_precision)


def explanation_metrics(generated: Sequence[str | None], references: Sequence[str | None],
                        posts: Sequence[str]) -> dict:
    """ROUGE-1/2/L (mean F1) and BLEU-4 against references that exist, and grounding_rate over all outputs."""
    pairs = [(tokenize_zh(g or ""), tokenize_zh(r)) for g, r in zip(generated, references) if r]
    out: dict = {}
    if pairs:
        out["rouge_1"] = sum(rouge_n(p, r, 1) for p, r in pairs) / len(pairs)
        out["rouge_2"] = sum(rouge_n(p, r, 2) for p, r in pairs) / len(pairs)
        out["rouge_l"] = sum(rouge_l(p, r) for p, r in pairs) / len(pairs)
        out["bleu4"] = corpus_bleu4([p for p, _ in pairs], [r for _, r in pairs])
    found = total = 0
    for g, post in zip(generated, posts):
        hits, n = grounded_spans(g, post)
        found, total = found + len(hits), total + n
    out["grounding_rate"] = found / total if total else None
    out["quoted_spans"] = total
    return out
