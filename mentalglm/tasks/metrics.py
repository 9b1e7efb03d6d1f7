"""Per-task classification metrics, beside the task registry (evaluation, val F1 during training and the baseline
all score with them), computed the same way every time (scikit-learn underneath).

A parse failure is never mapped to a label: in single-label tasks it becomes a class of its own that matches no
gold label (so it counts against recall and accuracy), in the multi-label task an empty prediction; its rate is
reported as `parse_failure_rate`.
"""

from __future__ import annotations

from typing import Sequence

from mentalglm.tasks.registry import HIGH_LEVEL_THRESHOLD, TASKS

PARSE_FAILURE = "<parse_failure>"
HIGH_RISK = "高自杀风险"


def _failure_rate(preds: Sequence[list[str] | None]) -> float:
    return sum(p is None for p in preds) / len(preds) if preds else 0.0


def _single(preds: Sequence[list[str] | None]) -> list[str]:
    return [p[0] if p else PARSE_FAILURE for p in preds]


def cognitive_distortion_metrics(golds: Sequence[list[str]], preds: Sequence[list[str] | None]) -> dict:
    """micro/macro/weighted/samples F1 and per-label precision/recall/F1/support over the 12 labels."""
    from sklearn.metrics import f1_score, precision_recall_fscore_support
    from sklearn.preprocessing import MultiLabelBinarizer

    labels = list(TASKS["cognitive_distortion"].labels)
    mlb = MultiLabelBinarizer(classes=labels)
    y_true = mlb.fit_transform(golds)
    y_pred = mlb.transform([p or [] for p in preds])
    out = {"n": len(golds)}
    for average in ("micro", "macro", "weighted", "samples"):
        out[f"{average}_f1"] = float(f1_score(y_true, y_pred, average=average, zero_division=0))
    out["parse_failure_rate"] = _failure_rate(preds)
    p, r, f, s = precision_recall_fscore_support(y_true, y_pred, average=None, zero_division=0)
    out["per_label"] = {lab: {"precision": float(p[i]), "recall": float(r[i]), "f1": float(f[i]),
                              "support": int(s[i])} for i, lab in enumerate(labels)}
    return out


def suicide_risk_metrics(golds: Sequence[list[str]], preds: Sequence[list[str] | None]) -> dict:
    """F1 of the high-risk class, weighted F1 over the two classes, accuracy."""
    from sklearn.metrics import accuracy_score, f1_score

    y_true, y_pred = _single(golds), _single(preds)
    labels = list(TASKS["suicide_risk"].labels)
    return {
        "n": len(golds),
        "high_f1": float(f1_score(y_true, y_pred, labels=[HIGH_RISK], average="macro", zero_division=0)),
        "weighted_f1": float(f1_score(y_true, y_pred, labels=labels, average="weighted", zero_division=0)),
        "accuracy": float(accuracy_score(y_true, y_pred)),
        "parse_failure_rate": _failure_rate(preds),
    }


def suicide_level_metrics(golds: Sequence[list[str]], preds: Sequence[list[str] | None]) -> dict:
    """Weighted F1 and accuracy over levels 0-10, MAE over parsed predictions, F1 of high (level >= 6)."""
    from sklearn.metrics import accuracy_score, f1_score

    y_true, y_pred = _single(golds), _single(preds)
    levels = list(TASKS["suicide_level"].labels)
    parsed = [(int(t), int(p)) for t, p in zip(y_true, y_pred) if p != PARSE_FAILURE]
    high_true = ["high" if int(t) >= HIGH_LEVEL_THRESHOLD else "low" for t in y_true]
    high_pred = [PARSE_FAILURE if p == PARSE_FAILURE else "high" if int(p) >= HIGH_LEVEL_THRESHOLD else "low"
                 for p in y_pred]
    return {
        "n": len(golds),
        "weighted_f1": float(f1_score(y_true, y_pred, labels=levels, average="weighted", zero_division=0)),
        "accuracy": float(accuracy_score(y_true, y_pred)),
        "mae": sum(abs(t - p) for t, p in parsed) / len(parsed) if parsed else None,
        "high_f1": float(f1_score(high_true, high_pred, labels=["high"], average="macro", zero_division=0)),
        "parse_failure_rate": _failure_rate(preds),
    }


TASK_METRICS = {"cognitive_distortion": cognitive_distortion_metrics, "suicide_risk": suicide_risk_metrics,
                "suicide_level": suicide_level_metrics}
# The one number per task used for model selection (val F1 during training, sweeps).
HEADLINE = {"cognitive_distortion": "micro_f1", "suicide_risk": "high_f1", "suicide_level": "weighted_f1"}


def task_metrics(task: str, golds: Sequence[list[str]], preds: Sequence[list[str] | None]) -> dict:
    """The metrics of INTERFACE.md's metrics.json for one task. `preds[i]` is None for a parse failure."""
    if len(golds) != len(preds):
        raise ValueError(f"{task}: {len(golds)} gold labels but {len(preds)} predictions")
    return TASK_METRICS[task](golds, preds)
