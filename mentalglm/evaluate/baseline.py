"""`mentalglm baseline`: TF-IDF character n-grams + logistic regression per task, fit on train, scored on a split.

The classic supervised reference of the field. Writes the same metrics.json as `mentalglm evaluate`.
"""

from __future__ import annotations

import logging
from typing import Sequence

from mentalglm.config import ConfigError
from mentalglm.config.evaluate import EvaluateConfig
from mentalglm.errors import DataError
from mentalglm.data.records import Record
from mentalglm.data.split_records import split_records
from mentalglm.evaluate.report import write_outputs
from mentalglm.evaluate.run import load_eval_records
from mentalglm.evaluate.scoring import Prediction, score
from mentalglm.model.label_model import LabelModel

log = logging.getLogger(__name__)


def fit_predict(task: str, train: Sequence[Record], test: Sequence[Record], cfg: EvaluateConfig) -> list[list[str]]:
    """Fit a `LabelModel` for `task` on `train` posts and predict label lists for `test` posts."""
    model = LabelModel(task, [r.post for r in train], [r.labels for r in train], cfg.baseline)
    return model.predict([r.post for r in test])


def run_baseline(cfg: EvaluateConfig) -> dict:
    """Fit on the train split of `data.dir`, score on `evaluate.split`, write metrics.json, predictions.jsonl and
    report.md to `evaluate.output_dir(baseline=True)`.

    Raises:
        ConfigError: a missing split, or a task with no training records.
    """
    split = cfg.evaluate.split
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
    out = cfg.evaluate.output_dir(baseline=True)
    write_outputs(out, metrics, predictions)
    log.info("baseline on %d %s records; outputs in %s", len(test), split, out)
    return metrics
