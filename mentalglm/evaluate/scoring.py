"""From model answers (or classifier outputs) to predictions and the metrics.json of INTERFACE.md."""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass
from typing import Sequence

from mentalglm.data.records import Record
from mentalglm.tasks.text_metrics import explanation_metrics
from mentalglm.tasks.metrics import task_metrics
from mentalglm.tasks import SCORED_TASKS, parse_response


@dataclass
class Prediction:
    """One scored record: gold and predicted labels, the raw answer, whether it parsed."""

    id: str
    task: str
    gold: list[str]
    predicted: list[str] | None
    raw: str
    parse_ok: bool
    explanation: str | None = None
    failure_kind: str | None = None
    judge: dict[str, float | None] | None = None  # criterion -> the LLM judge's score (evaluate --judge)

    def to_dict(self) -> dict:
        """The predictions.jsonl row (id, task, gold, predicted, raw, parse_ok, explanation, failure_kind, and
        `judge_<criterion>` when judged)."""
        row = asdict(self)
        judge = row.pop("judge")
        row.update({f"judge_{criterion}": score for criterion, score in (judge or {}).items()})
        return row


def parse_answers(records: Sequence[Record], answers: Sequence[str]) -> list[Prediction]:
    """Parse each answer with the task registry's parser; failures keep `predicted=None`."""
    out = []
    for record, answer in zip(records, answers, strict=True):
        parsed = parse_response(record.task, answer)
        out.append(Prediction(record.id, record.task, record.labels, parsed.labels if parsed.ok else None, answer,
                              parsed.ok, parsed.explanation, parsed.kind))
    return out


def score(records: Sequence[Record], predictions: Sequence[Prediction], split: str, model: str) -> dict:
    """metrics.json: per-task metrics, plus explanation metrics where the records carry reference explanations.

    `predictions[i]` is the prediction for `records[i]`.

    Raises:
        ValueError: the two sequences differ in length or a prediction's id is not its record's.
    """
    if len(records) != len(predictions):
        raise ValueError(f"{len(predictions)} predictions for {len(records)} records")
    references: dict[str, list[str | None]] = {}
    posts: dict[str, list[str]] = {}
    for record, prediction in zip(records, predictions):
        if record.id != prediction.id:
            raise ValueError(f"prediction {prediction.id!r} is not for record {record.id!r}")
        references.setdefault(record.task, []).append(record.explanation)
        posts.setdefault(record.task, []).append(record.post)
    tasks: dict[str, dict] = {}
    for task in SCORED_TASKS:
        preds = [p for p in predictions if p.task == task]
        if not preds:
            continue
        metrics = task_metrics(task, [p.gold for p in preds], [p.predicted for p in preds])
        failures = Counter(p.failure_kind or "unknown" for p in preds if not p.parse_ok)
        metrics["parse_failures"] = {kind: failures[kind] for kind in sorted(failures)}
        if any(references[task]):
            metrics.update(explanation_metrics([p.explanation for p in preds], references[task], posts[task]))
        tasks[task] = metrics
    return {"split": split, "model": model, "tasks": tasks}
