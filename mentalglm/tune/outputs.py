"""What a sweep leaves: sweep.csv (a row per trial), sweep.png (metric per report, a line per trial), best/."""

from __future__ import annotations

import csv
import io
import json
import shutil
from pathlib import Path
from typing import Any

import yaml

from mentalglm.runs.files import write_figure_atomic, write_json_atomic, write_text_atomic
from mentalglm.runs.publish import MANIFEST, publish_dir


def _trial_rows(result_grid: Any, metric: str, mode: str, space_keys: list[str]) -> list[dict[str, Any]]:
    rows = []
    for result in result_grid:
        metrics = result.metrics or {}
        config = result.config or {}
        df = result.metrics_dataframe
        series = None if df is None or metric not in df else df[metric].dropna()
        rows.append({
            "trial_id": metrics.get("trial_id") or Path(result.path).name,
            **{key: json.dumps(config.get(key)) if isinstance(config.get(key), list) else config.get(key)
               for key in space_keys},
            metric: metrics.get(metric),
            "best_" + metric: None if series is None or series.empty else
            float(series.min() if mode == "min" else series.max()),
            "iterations": metrics.get("training_iteration", 0),
            "steps": metrics.get("step"),
            "status": "ERROR" if result.error else ("COMPLETED" if metrics.get("finished") else "STOPPED_EARLY"),
        })
    return rows


def write_sweep_csv(result_grid: Any, metric: str, mode: str, space_keys: list[str], path: Path) -> list[dict]:
    """sweep.csv: trial id, sampled values, last and best metric, reports, steps, status. Returns the rows."""
    rows = _trial_rows(result_grid, metric, mode, space_keys)
    buffer = io.StringIO()
    fields = list(rows[0]) if rows else ["trial_id"]
    writer = csv.DictWriter(buffer, fieldnames=fields)
    writer.writeheader()
    writer.writerows(rows)
    write_text_atomic(path, buffer.getvalue())
    return rows


def plot_sweep(result_grid: Any, metric: str, path: Path) -> None:
    """sweep.png: `metric` against report number, one line per trial."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5))
    for result in result_grid:
        df = result.metrics_dataframe
        if df is None or metric not in df:
            continue
        label = str((result.metrics or {}).get("trial_id") or Path(result.path).name)
        ax.plot(df["training_iteration"], df[metric], marker="o", label=label)
    ax.set_xlabel("report (training_iteration)")
    ax.set_ylabel(metric)
    ax.set_title(f"sweep: {metric} per trial")
    ax.legend(fontsize=7)
    fig.tight_layout()
    write_figure_atomic(fig, path)


def export_best(adapter_dir: Path, trial_config: dict, metrics: dict, best_dir: Path,
                fingerprint: dict | None = None) -> Path:
    """Publish the best trial's adapter (+ tokenizer) to `best_dir` with its config.yaml, metrics.json and a
    manifest (carrying the trial's fingerprint)."""
    def fill(tmp: Path) -> None:
        for item in adapter_dir.iterdir():
            if item.is_file() and item.name not in ("config.yaml", "metrics.json", MANIFEST):
                shutil.copy2(item, tmp / item.name)
        (tmp / "config.yaml").write_text(yaml.safe_dump(trial_config, allow_unicode=True, sort_keys=False),
                                         encoding="utf-8")
        write_json_atomic(tmp / "metrics.json", metrics)

    return publish_dir(best_dir, fill, fingerprint)
