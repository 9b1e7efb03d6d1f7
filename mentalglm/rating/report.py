"""`mentalglm rate import`: read the ratings, unblind them with the key, and write `ratings.json`, `report.md` and
`means.png` (per system and criterion: items, raters, mean with bootstrap 95 % interval, Krippendorff's alpha ordinal
and interval, raw agreement, Gwet's AC1; and per criterion and automatic metric, the Spearman correlation over items
between the metric and the mean human score)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from mentalglm.config.rating import RateImportConfig
from mentalglm.errors import DataError
from mentalglm.runs.files import write_dir_atomic, write_figure_atomic, write_json_atomic, write_text_atomic
from mentalglm.runs.tables import cell
from mentalglm.rating.agreement import (
    bootstrap_mean,
    gwet_ac1,
    item_means,
    krippendorff_alpha,
    rating_matrix,
    raw_agreement,
    spearman,
)
from mentalglm.rating.labelstudio import read_labelstudio
from mentalglm.rating.readers import Rating, load_key, read_mentalllama, read_rater_csv
from mentalglm.tasks.rubric import CRITERIA


def read_all(cfg: RateImportConfig) -> list[Rating]:
    """Every rating the config names, unblinded.

    Raises:
        DataError: a file is malformed (named with its line), or ratings by item id come without the key.
    """
    key = load_key(cfg.key) if cfg.key else None
    ratings: list[Rating] = []
    for path in cfg.labelstudio:
        ratings += read_labelstudio(path, key)
    for path in cfg.csv:
        ratings += read_rater_csv(path, key)
    for path in cfg.mentalllama:
        ratings += read_mentalllama(path)
    if not ratings:
        raise DataError(cfg.out_dir, None, "no ratings in the files given (labelstudio, csv, mentalllama)")
    return ratings


def summarise(ratings: list[Rating], resamples: int = 2000, seed: int = 0) -> dict[str, dict[str, dict[str, Any]]]:
    """system -> criterion -> the figures of the module docstring."""
    out: dict[str, dict[str, dict[str, Any]]] = {}
    for system in sorted({r.system for r in ratings}):
        out[system] = {}
        for criterion in CRITERIA:
            subset = [r for r in ratings if r.system == system and r.criterion == criterion]
            if not subset:
                continue
            raters, items, matrix = rating_matrix(subset)
            mean, low, high = bootstrap_mean(list(item_means(subset).values()), resamples, seed)
            out[system][criterion] = {
                "items": len(items), "raters": len(raters), "ratings": len(subset), "mean": mean,
                "ci95": [low, high], "alpha_ordinal": krippendorff_alpha(matrix, "ordinal"),
                "alpha_interval": krippendorff_alpha(matrix, "interval"), "raw_agreement": raw_agreement(matrix),
                "gwet_ac1": gwet_ac1(matrix)}
    return out


def correlations(ratings: list[Rating], metrics: dict[str, dict[str, float | None]]) -> dict[str, dict[str, Any]]:
    """criterion -> metric -> {rho, p, n}: Spearman over items between the metric and the mean human score."""
    out: dict[str, dict[str, Any]] = {}
    names = sorted({m for values in metrics.values() for m, v in values.items() if v is not None and m != "item_id"})
    for criterion in CRITERIA:
        means = item_means(r for r in ratings if r.criterion == criterion)
        for metric in names:
            pairs = [(metrics[i][metric], m) for i, m in means.items() if metrics.get(i, {}).get(metric) is not None]
            rho, p = spearman([a for a, _ in pairs], [b for _, b in pairs])
            out.setdefault(criterion, {})[metric] = {"rho": rho, "p": p, "n": len(pairs)}
    return out


def _report(summary: dict, corr: dict) -> str:
    lines = ["# Ratings", "", "Mean of the per-item mean score (0-3) with a bootstrap 95 % interval; agreement "
             "between raters (Krippendorff's alpha, raw pairwise agreement, Gwet's AC1).", "",
             "| system | criterion | items | raters | mean | 95 % CI | alpha ordinal | alpha interval | raw agreement "
             "| AC1 |", "|---|---|---|---|---|---|---|---|---|---|"]
    for system, criteria in summary.items():
        for criterion, s in criteria.items():
            lines.append(f"| {system} | {criterion} | {s['items']} | {s['raters']} | {s['mean']:.3f} | "
                         f"{s['ci95'][0]:.3f}–{s['ci95'][1]:.3f} | {cell(s['alpha_ordinal'], 3)} | "
                         f"{cell(s['alpha_interval'], 3)} | {cell(s['raw_agreement'], 3)} | {cell(s['gwet_ac1'], 3)} |")
    if corr:
        lines += ["", "## Automatic metrics against the human scores", "",
                  "Spearman's rho over items between the metric and the mean human score (n items, p).", "",
                  "| criterion | metric | rho | p | n |", "|---|---|---|---|---|"]
        for criterion, metrics in corr.items():
            for metric, c in metrics.items():
                lines.append(f"| {criterion} | {metric} | {cell(c['rho'], 3)} | {cell(c['p'], 3)} | {c['n']} |")
    return "\n".join(lines) + "\n"


def _plot(summary: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    systems = list(summary)
    fig, ax = plt.subplots(figsize=(1.8 + 1.6 * len(CRITERIA), 3.6))
    width = 0.8 / max(1, len(systems))
    for k, system in enumerate(systems):
        xs = [i + k * width for i in range(len(CRITERIA))]
        stats = [summary[system].get(c) for c in CRITERIA]
        means = [s["mean"] if s else 0 for s in stats]
        errs = [[s["mean"] - s["ci95"][0] if s else 0 for s in stats], [s["ci95"][1] - s["mean"] if s else 0
                                                                       for s in stats]]
        ax.bar(xs, means, width, yerr=errs, capsize=3, label=system)
    ax.set_xticks([i + width * (len(systems) - 1) / 2 for i in range(len(CRITERIA))], CRITERIA)
    ax.set_ylim(0, 3)
    ax.set_ylabel("mean score (0-3), 95 % CI")
    ax.legend(fontsize=8)
    fig.tight_layout()
    write_figure_atomic(fig, path)
    plt.close(fig)


def import_ratings(cfg: RateImportConfig) -> dict:
    """Read, unblind and summarise the ratings of `cfg` into `cfg.out_dir`; returns `ratings.json`'s content.

    Raises:
        DataError: see `read_all`.
    """
    ratings = read_all(cfg)
    summary = summarise(ratings, cfg.bootstrap, cfg.seed)
    metrics: dict[str, dict[str, float | None]] = {}
    if cfg.key and (Path(cfg.key) / "items.jsonl").exists():
        for line in (Path(cfg.key) / "items.jsonl").read_text(encoding="utf-8").splitlines():
            row = json.loads(line)
            metrics[row["item_id"]] = row
    corr = correlations(ratings, metrics) if metrics else {}
    result = {"systems": summary, "correlations": corr, "ratings": len(ratings)}

    def fill(folder: Path) -> None:
        write_json_atomic(folder / "ratings.json", result)
        write_text_atomic(folder / "report.md", _report(summary, corr))
        _plot(summary, folder / "means.png")

    write_dir_atomic(cfg.out_dir, fill)
    return result
