"""`mentalglm baseline`: TF-IDF character n-grams + logistic regression per task, fit on train, scored on a split.

The classic supervised reference of the field. Writes the same metrics.json as `mentalglm evaluate`.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Sequence

from mentalglm.config import ConfigError
from mentalglm.config.evaluate import BaselineSection, EvaluateConfig
from mentalglm.data.io import DataError
from mentalglm.data.records import Record
from mentalglm.data.split_records import split_records
from mentalglm.evaluate.report import write_outputs
from mentalglm.evaluate.run import load_eval_records
from mentalglm.evaluate.scoring import Prediction, score
from mentalglm.tasks import TASKS

log = logging.getLogger(__name__)


class LabelModel:
    """TF-IDF character n-grams + logistic regression for one task, fitted on texts with gold labels; picklable.

    Multi-label: one-vs-rest; a text with no label above 0.5 gets its single most likely label (every post in the
    data carries at least one). A label absent from the training texts cannot be predicted.
    """

    def __init__(self, task: str, texts: Sequence[str], labels: Sequence[Sequence[str]], settings: BaselineSection):
        from sklearn.feature_extraction.text import TfidfVectorizer
        from sklearn.linear_model import LogisticRegression
        from sklearn.multiclass import OneVsRestClassifier
        from sklearn.preprocessing import MultiLabelBinarizer

        b = settings
        self.multi_label = TASKS[task].multi_label
        self.vec = TfidfVectorizer(analyzer="char", ngram_range=(b.ngram_min, b.ngram_max),
                                   max_features=b.max_features, sublinear_tf=True)
        x = self.vec.fit_transform(list(texts))
        make_lr = lambda: LogisticRegression(C=b.C, max_iter=2000, class_weight=b.class_weight)  # noqa: E731
        self.constant: str | None = None
        if self.multi_label:
            mlb = MultiLabelBinarizer(classes=list(TASKS[task].labels))
            y = mlb.fit_transform([list(x) for x in labels])
            present = y.sum(axis=0) > 0
            self.clf = OneVsRestClassifier(make_lr()).fit(x, y[:, present])
            self.names = [lab for lab, keep in zip(mlb.classes_, present) if keep]
            return
        y = [lab[0] for lab in labels]
        if len(set(y)) < 2:
            self.constant = y[0]
        else:
            self.clf = make_lr().fit(x, y)

    def predict(self, texts: Sequence[str]) -> list[list[str]]:
        """The predicted label list of each text."""
        if self.constant is not None:
            return [[self.constant] for _ in texts]
        x = self.vec.transform(list(texts))
        if self.multi_label:
            return [[self.names[j] for j in range(len(self.names)) if row[j] >= 0.5] or [self.names[int(row.argmax())]]
                    for row in self.clf.predict_proba(x)]
        return [[label] for label in self.clf.predict(x)]


def fit_predict(task: str, train: Sequence[Record], test: Sequence[Record], cfg: EvaluateConfig) -> list[list[str]]:
    """Fit a `LabelModel` for `task` on `train` posts and predict label lists for `test` posts."""
    model = LabelModel(task, [r.post for r in train], [r.labels for r in train], cfg.baseline)
    return model.predict([r.post for r in test])


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
