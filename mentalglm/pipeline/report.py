"""The main job's summary: `summary.md` rendered from the stages' records, and `summary.json`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mentalglm.runs.tables import markdown_table
from mentalglm.pipeline.stages import MEMORISED, Inputs, Memorised, Sweep, Tokens


def _figures(rows: dict[str, Any], float_format: str = "") -> str:
    return markdown_table(["figure", "value"], [[k, format(v, float_format) if isinstance(v, float) else str(v)]
                                                for k, v in rows.items()])


def sweep_section(sweep: Sweep) -> str:
    """The trials as a table, then which one won, why, and what ASHA stopped."""
    s = sweep.summary
    trials, winner, metric = s["trials"], s["winner"], s["metric"]
    rows = [[f"{v:.4g}" if isinstance(v, float) else v for v in t.values()] for t in trials]
    table = markdown_table(list(trials[0]), rows) if trials else "no trials"
    stopped = [t["trial"] for t in trials if t["status"] == "STOPPED_EARLY"]
    asha = f"ASHA stopped {', '.join(stopped)} early" if stopped else "ASHA stopped no trial early"
    value = f"{sweep.best_value:.4g}" if isinstance(sweep.best_value, float) else str(sweep.best_value)
    why = (f"Winner: **{winner}**, the {'lowest' if s['mode'] == 'min' else 'highest'} {metric} at its last report "
           f"({value}) among the trials that reported it; {asha}. Its adapter (`{sweep.best_dir}`) is what is "
           f"evaluated and served, as `{s['served_model_id']}`.") if winner \
        else "No trial reported the metric: nothing to evaluate or serve."
    return table + "\n\n" + why


def _memorised_note(memorised: Memorised | None) -> list[str]:
    if memorised is None or not memorised.answers:
        return []
    return [f"The `{MEMORISED}` column scores a second adapter on the records it was trained on: it shows that "
            "prompts, chat template, loss mask, stop tokens, export, generation and parsing agree (the tiny model "
            "memorises; it knows no Chinese). Its answers:\n\n"
            + markdown_table(["task", "trained answer", "model answer"], memorised.answers)]


def render(inputs: Inputs, tokens: Tokens, train: dict, sweep: Sweep | None, comparison: str, eval_split: str,
           memorised: Memorised | None, smoke: list[dict], timings: dict[str, float], log_path: Path) -> str:
    """summary.md: records, tokenisation, training or sweep, evaluation, serve smoke, stage times, the log."""
    records = [[split, task, c["total"], len(c["labels"])] for split, tasks in inputs.stats["counts"].items()
               for task, c in tasks.items()]
    smoke_rows = [[r["route"], r["status"], f"{r['latency_ms']:.0f}", r["answer"]] for r in smoke]
    return "\n\n".join([
        "# MentalGLM pipeline summary",
        f"Data: `{inputs.data_dir}` · model: `{inputs.model_dir}`",
        "## Records\n" + markdown_table(["split", "task", "records", "labels seen"], records),
        "## Tokenisation (train)\n" + _figures(tokens.figures),
        *(["## Training\n" + _figures(train, ".4f")] if train else []),
        *(["## Sweep\n" + sweep_section(sweep)] if sweep else []),
        *([f"## Evaluation ({eval_split})\n" + comparison] if comparison else []),
        *_memorised_note(memorised),
        *(["## Serve smoke\n" + markdown_table(["request", "status", "ms", "answer"], smoke_rows)] if smoke else []),
        "## Stage times (s)\n" + markdown_table(["stage", "seconds"], [[k, f"{v:.1f}"] for k, v in timings.items()]),
        f"Everything the stages printed (Ray Tune's tables, progress bars, logs): `{log_path}`",
    ]) + "\n"


def summary_json(inputs: Inputs, tokens: Tokens, train: dict, sweep: Sweep | None, memorised: Memorised | None,
                 smoke: list[dict], timings: dict[str, float]) -> dict[str, Any]:
    """summary.json: the same figures as summary.md, for tools."""
    answers = memorised.answers if memorised else []
    return {"data_dir": str(inputs.data_dir), "model_dir": str(inputs.model_dir), "records": inputs.stats["counts"],
            "tokenization": tokens.figures, "train": train, "sweep": sweep.summary if sweep else {},
            "timings_s": {k: round(v, 2) for k, v in timings.items()}, "tasks_in_train": tokens.tasks_in_train,
            "serve_smoke": smoke,
            "memorised": [{"task": t, "trained": want, "answer": got} for t, want, got in answers]}
