"""Metrics against scikit-learn (and hand-computed values) on fixed vectors."""

import math

import pytest
from sklearn.metrics import accuracy_score, f1_score, precision_recall_fscore_support

from mentalglm.tasks.evidence import grounded_spans
from mentalglm.tasks.text_metrics import (corpus_bleu4, explanation_metrics, rouge_l, rouge_n,
                                             tokenize_zh)
from mentalglm.tasks.metrics import task_metrics
from mentalglm.tasks import TASKS

CD_LABELS = list(TASKS["cognitive_distortion"].labels)


def _binarize(rows):
    return [[1 if lab in (row or []) else 0 for lab in CD_LABELS] for row in rows]


def test_cognitive_distortion_matches_sklearn():
    gold = [["读心术"], ["读心术", "罪责归己"], ["乱贴标签"], ["先知错误", "放大"], ["乱贴标签"], ["应该式"]]
    pred = [["读心术"], ["读心术"], ["乱贴标签", "放大"], None, ["以偏概全"], ["应该式", "乱贴标签"]]
    m = task_metrics("cognitive_distortion", gold, pred)
    yt, yp = _binarize(gold), _binarize(pred)
    for avg in ("micro", "macro", "weighted", "samples"):
        assert m[f"{avg}_f1"] == pytest.approx(f1_score(yt, yp, average=avg, zero_division=0))
    assert m["micro_f1"] == pytest.approx(2 * 4 / (2 * 4 + 4 + 3))  # TP 4, FP 3, FN 4 by hand
    assert m["parse_failure_rate"] == pytest.approx(1 / 6)
    p, r, f, s = precision_recall_fscore_support(yt, yp, average=None, zero_division=0)
    i = CD_LABELS.index("乱贴标签")
    assert m["per_label"]["乱贴标签"] == pytest.approx({"precision": p[i], "recall": r[i], "f1": f[i], "support": 2})
    assert m["per_label"]["乱贴标签"]["precision"] == pytest.approx(1 / 2)


def test_suicide_risk_matches_sklearn_and_counts_failures_as_wrong():
    gold = [["高自杀风险"], ["高自杀风险"], ["低自杀风险"], ["低自杀风险"], ["高自杀风险"]]
    pred = [["高自杀风险"], None, ["高自杀风险"], ["低自杀风险"], ["高自杀风险"]]
    m = task_metrics("suicide_risk", gold, pred)
    yt = ["H", "H", "L", "L", "H"]
    yp = ["H", "X", "H", "L", "H"]
    assert m["high_f1"] == pytest.approx(f1_score(yt, yp, labels=["H"], average="macro"))
    assert m["high_f1"] == pytest.approx(2 * (2 / 3) * (2 / 3) / (4 / 3))  # precision 2/3, recall 2/3
    assert m["weighted_f1"] == pytest.approx(f1_score(yt, yp, labels=["H", "L"], average="weighted"))
    assert m["accuracy"] == pytest.approx(accuracy_score(yt, yp)) == pytest.approx(3 / 5)
    assert m["parse_failure_rate"] == pytest.approx(0.2)


def test_suicide_level_matches_sklearn_with_mae_and_high_f1():
    gold = [["0"], ["3"], ["6"], ["8"], ["10"], ["5"]]
    pred = [["0"], ["4"], ["5"], ["8"], None, ["7"]]
    m = task_metrics("suicide_level", gold, pred)
    yt = [g[0] for g in gold]
    yp = [p[0] if p else "X" for p in pred]
    assert m["weighted_f1"] == pytest.approx(f1_score(yt, yp, labels=[str(i) for i in range(11)],
                                                      average="weighted", zero_division=0))
    assert m["accuracy"] == pytest.approx(2 / 6)
    assert m["mae"] == pytest.approx((0 + 1 + 1 + 0 + 2) / 5)  # over the five parsed predictions
    ht = ["H" if int(t) >= 6 else "L" for t in yt]
    hp = ["X" if p == "X" else "H" if int(p) >= 6 else "L" for p in yp]
    assert m["high_f1"] == pytest.approx(f1_score(ht, hp, labels=["H"], average="macro"))
    assert m["high_f1"] == pytest.approx(0.4)  # high precision 1/2 (8 right, 7 wrong), recall 1/3


def test_rouge_and_bleu_by_hand():
    pred, ref = ["我", "很", "累"], ["我", "真的", "很", "累"]
    assert rouge_n(pred, ref, 1) == pytest.approx(2 * 1 * 0.75 / 1.75)
    assert rouge_n(pred, ref, 2) == pytest.approx(2 * 0.5 * (1 / 3) / (0.5 + 1 / 3))
    assert rouge_l(pred, ref) == pytest.approx(2 * 1 * 0.75 / 1.75)
    same = ["发帖", "人", "想", "死", "了"]
    assert corpus_bleu4([same], [same]) == pytest.approx(1.0)
    shorter = same[:4]
    # all n-gram precisions are 1; brevity penalty exp(1 - 5/4)
    assert corpus_bleu4([shorter], [same]) == pytest.approx(math.exp(1 - 5 / 4))
    assert corpus_bleu4([["a", "b"]], [["c", "d"]]) == 0.0


def test_grounding_rate_counts_verbatim_quotes():
    post = "我已经 把药都攒好了，这周末就结束。"
    hits, total = grounded_spans("帖子说“我已经 把药都攒好了”，还说“周末”和“想跳楼”。", post)
    assert hits == ["我已经 把药都攒好了", "周末"] and total == 3
    m = explanation_metrics(["“攒好了”", None], ["参考解释", None], [post, "别的帖子"])
    assert m["grounding_rate"] == 1.0 and m["quoted_spans"] == 1
    assert set(m) >= {"rouge_1", "rouge_2", "rouge_l", "bleu4"}


def test_corner_bracket_quotes_count_and_full_width_text_grounds():
    post = "药已经攒够了，今晚就结束这一切。ＯＫ"
    hits, total = grounded_spans("帖子说「药已经攒够了」，“今晚就结束”，「OK」，「明天」。", post)
    assert hits == ["药已经攒够了", "今晚就结束", "OK"] and total == 4


def test_jieba_tokens():
    assert tokenize_zh("我今天很难过") == ["我", "今天", "很", "难过"]
