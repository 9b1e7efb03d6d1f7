"""Evaluation outputs: metrics.json, predictions.jsonl, report.md, confusion_<task>.png; side-by-side comparison."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Sequence

from mentalglm.errors import DataError
from mentalglm.runs.tables import cell, markdown_table
from mentalglm.runs.files import write_figure_atomic, write_json_atomic, write_jsonl_atomic, write_text_atomic
from mentalglm.tasks.metrics import HEADLINE, PARSE_FAILURE
from mentalglm.evaluate.scoring import Prediction
from mentalglm.tasks import TASKS

# The columns of the tables a person reads, per task.
TABLE_METRICS = {
    "cognitive_distortion": ["n", "micro_f1", "macro_f1", "weighted_f1", "samples_f1", "parse_failure_rate"],
    "suicide_risk": ["n", "high_f1", "weighted_f1", "accuracy", "parse_failure_rate"],
    "suicide_level": ["n", "weighted_f1", "accuracy", "mae", "high_f1", "parse_failure_rate", "rouge_1", "rouge_2",
                      "rouge_l", "bleu4", "grounding_rate"],
}


# English names (Burns' terms) for plots on machines without a CJK font.
PLOT_ALIASES = {
    "非此即彼": "all-or-nothing", "以偏概全": "overgeneralization", "心理过滤": "mental filter",
    "否定正面思考": "disqualifying positive", "读心术": "mind reading", "先知错误": "fortune-telling",
    "放大": "magnification", "情绪化推理": "emotional reasoning", "应该式": "should statements",
    "乱贴标签": "labeling", "罪责归己": "self-blame", "罪责归他": "blaming others",
    "高自杀风险": "high risk", "低自杀风险": "low risk",
}


def render_report(metrics: dict) -> str:
    """report.md: one table per task, per-label figures for cognitive distortion."""
    parts = [f"# Evaluation: {metrics['model']} on {metrics['split']}"]
    for task, m in metrics["tasks"].items():
        keys = [k for k in TABLE_METRICS[task] if k in m]
        parts.append(f"## {task}\n\n" + markdown_table(keys, [[cell(m[k]) for k in keys]]))
        if "per_label" in m:
            rows = [[lab, cell(v["precision"]), cell(v["recall"]), cell(v["f1"]), str(v["support"])]
                    for lab, v in m["per_label"].items()]
            parts.append(markdown_table(["label", "precision", "recall", "f1", "support"], rows))
    return "\n\n".join(parts) + "\n"


def _confusion(task: str, preds: Sequence[Prediction]) -> tuple[list[str], list[str], list[list[int]]]:
    labels = list(TASKS[task].labels)
    if TASKS[task].multi_label:
        cols = labels + ["(none)"]
        matrix = [[0] * len(cols) for _ in labels]
        for p in preds:
            predicted = p.predicted or []
            for g in p.gold:
                for q in predicted or ["(none)"]:
                    matrix[labels.index(g)][cols.index(q)] += 1
        return labels, cols, matrix
    cols = labels + [PARSE_FAILURE]
    matrix = [[0] * len(cols) for _ in labels]
    for p in preds:
        matrix[labels.index(p.gold[0])][cols.index(p.predicted[0] if p.predicted else PARSE_FAILURE)] += 1
    return labels, cols, matrix


def plot_confusion(task: str, preds: Sequence[Prediction], path: Path) -> None:
    """Gold (rows) against predicted (columns) counts; multi-label counts every gold/predicted pair."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib import font_manager

    rows, cols, matrix = _confusion(task, preds)
    cjk = [f.name for f in font_manager.fontManager.ttflist if any(k in f.name for k in ("CJK", "WenQuanYi", "Hei"))]
    if cjk:
        plt.rcParams["font.family"] = cjk[0]
    else:
        rows = [PLOT_ALIASES.get(r, r) for r in rows]
        cols = [PLOT_ALIASES.get(c, c) for c in cols]
    size = max(4.0, 0.5 * len(cols) + 2)
    fig, ax = plt.subplots(figsize=(size, size * len(rows) / len(cols) + 1))
    ax.imshow(matrix, cmap="Blues")
    ax.set_xticks(range(len(cols)), cols, rotation=60, ha="right", fontsize=8)
    ax.set_yticks(range(len(rows)), rows, fontsize=8)
    for i, row in enumerate(matrix):
        for j, value in enumerate(row):
            if value:
                ax.text(j, i, str(value), ha="center", va="center", fontsize=7)
    ax.set_xlabel("predicted")
    ax.set_ylabel("gold")
    ax.set_title(task)
    fig.tight_layout()
    write_figure_atomic(fig, path)


def write_outputs(out_dir: Path, metrics: dict, predictions: Sequence[Prediction] | None) -> None:
    """Write metrics.json, report.md and, given predictions, predictions.jsonl and confusion_<task>.png."""
    out_dir.mkdir(parents=True, exist_ok=True)
    write_json_atomic(out_dir / "metrics.json", metrics)
    write_text_atomic(out_dir / "report.md", render_report(metrics))
    if predictions is not None:
        write_jsonl_atomic(out_dir / "predictions.jsonl", (p.to_dict() for p in predictions))
        for task in metrics["tasks"]:
            plot_confusion(task, [p for p in predictions if p.task == task], out_dir / f"confusion_{task}.png")


def headlines(metrics: dict) -> str:
    """One line per task: its headline metric, the number of records and the parse-failure rate."""
    return "\n".join(f"{task}: {HEADLINE[task]} {m[HEADLINE[task]]:.4f} (n={m['n']}, parse failures "
                     f"{m['parse_failure_rate']:.1%})" for task, m in metrics["tasks"].items())


def compare_table(paths: Sequence[str | Path]) -> str:
    """One side-by-side markdown table (rows: task and metric; columns: the given metrics.json files).

    Raises:
        DataError: a file is missing, not JSON or not shaped as metrics.json.
    """
    runs = []
    for path in paths:
        p = Path(path)
        p = p / "metrics.json" if p.is_dir() else p
        try:
            runs.append((str(path), json.loads(p.read_text(encoding="utf-8"))))
        except FileNotFoundError:
            raise DataError(p, None, "not found") from None
        except json.JSONDecodeError as exc:
            raise DataError(p, exc.lineno, f"not JSON ({exc.msg})") from None
        metrics = runs[-1][1]
        if not (isinstance(metrics, dict) and isinstance(metrics.get("tasks", {}), dict)
                and all(isinstance(t, dict) for t in metrics.get("tasks", {}).values())):
            raise DataError(p, None, "not a metrics.json of `mentalglm evaluate` (an object whose `tasks` maps each "
                            "task to its metrics)")
    header = ["task", "metric"] + [m.get("model", name) for name, m in runs]
    rows = []
    for task, keys in TABLE_METRICS.items():
        for key in keys:
            values = [m.get("tasks", {}).get(task, {}).get(key) for _, m in runs]
            if any(v is not None for v in values):
                rows.append([task, key] + [cell(v) for v in values])
    return markdown_table(header, rows)
