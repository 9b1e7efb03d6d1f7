"""`mentalglm baseline`: TF-IDF character n-grams + logistic regression per task, fit on train, scored on a split.

The classic supervised reference of the field. Writes the same metrics.json as `mentalglm evaluate`.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Sequence

from mentalglm.config import ConfigError
from mentalglm.config.evaluate import EvaluateConfig
from mentalglm.data.io import DataError
from mentalglm.data.records import Record
from mentalglm.data.split_records import split_records
from mentalglm.evaluate.report import write_outputs
from mentalglm.evaluate.run import load_eval_records
from mentalglm.evaluate.scoring import Prediction, score
from mentalglm.tasks import TASKS

log = logging.getLogger(__name__)


def _vectorizer(cfg: EvaluateConfig):
    from sklearn.feature_extraction.text import TfidfVectorizer

    b = cfg.baseline
    return TfidfVectorizer(analyzer="char", ngram_range=(b.ngram_min, b.ngram_max), max_features=b.max_features,
                           sublinear_tf=True)


def fit_predict(task: str, train: Sequence[Record], test: Sequence[Record], cfg: EvaluateConfig) -> list[list[str]]:
    """Fit a classifier for `task` on `train` posts and predict label lists for `test` posts.

    Multi-label: one-vs-rest; a post with no label above 0.5 gets its single most likely label (every post in
    the data carries at least one).
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.multiclass import OneVsRestClassifier
    from sklearn.preprocessing import MultiLabelBinarizer

    b = cfg.baseline
    vec = _vectorizer(cfg)
    x_train = vec.fit_transform([r.post for r in train])
    x_test = vec.transform([r.post for r in test])
    make_lr = lambda: LogisticRegression(C=b.C, max_iter=2000, class_weight=b.class_weight)  # noqa: E731
    if TASKS[task].multi_label:
        mlb = MultiLabelBinarizer(classes=list(TASKS[task].labels))
        y = mlb.fit_transform([r.labels for r in train])
        present = y.sum(axis=0) > 0  # a label absent from train cannot be learned
        clf = OneVsRestClassifier(make_lr()).fit(x_train, y[:, present])
        proba = clf.predict_proba(x_test)
        names = [lab for lab, keep in zip(mlb.classes_, present) if keep]
        return [[names[j] for j in range(len(names)) if row[j] >= 0.5] or [names[int(row.argmax())]]
                for row in proba]
    y = [r.labels[0] for r in train]
    if len(set(y)) < 2:
        return [[y[0]] for _ in test]
    clf = make_lr().fit(x_train, y)
    return [[label] for label in clf.predict(x_test)]


def run_baseline(cfg: EvaluateConfig, split: str, out_dir: str | Path | None = None) -> dict:
    """Fit on the train split of `data.dir`, score on `split`, write metrics.json, predictions.jsonl, report.md.

    Raises:
        ConfigError: a missing split, or a task with no training records.
    """
    test = load_eval_records(cfg, split)
    by_task: dict[str, list[int]] = {}
    for i, record in enumerate(test):
        by_task.setdefault(record.task, []).append(i)
    predictions: list[Prediction | None] = [None] * len(test)
    for task, positions in by_task.items():
        try:
            task_train = list(split_records(cfg.data.dir, "train", [task]))
        except DataError:
            task_train = []
        if not task_train:
            raise ConfigError(f"data.dir: no {task} records in the train split of {cfg.data.dir} to fit the baseline")
        task_test = [test[i] for i in positions]
        for i, record, labels in zip(positions, task_test, fit_predict(task, task_train, task_test, cfg)):
            predictions[i] = Prediction(record.id, task, record.labels, labels, "", True)
    metrics = score(test, predictions, split, "tfidf-char-logreg")
    for task_metrics in metrics["tasks"].values():  # the baseline writes no explanations
        for key in ("rouge_1", "rouge_2", "rouge_l", "bleu4", "grounding_rate", "quoted_spans"):
            task_metrics.pop(key, None)
    out = Path(out_dir) if out_dir else Path(cfg.evaluate.out_dir) / f"baseline-{split}"
    write_outputs(out, metrics, predictions)
    log.info("baseline on %d %s records; outputs in %s", len(test), split, out)
    return metrics
