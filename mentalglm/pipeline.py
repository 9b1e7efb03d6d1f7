"""`mentalglm pipeline`: the main job: build data -> create model -> tokenise -> train -> (memorise check) ->
evaluate vs baseline -> serve smoke (start the service on the adapter, three requests, stop).

Each stage runs from its own config file.
"""

from __future__ import annotations

import json
import logging
import time
from collections import Counter
from pathlib import Path

from mentalglm.config import ConfigError, DataBuildConfig, ModelConfig, ModelInitConfig, PipelineConfig, load_config
from mentalglm.data.batching import length_grouped_batches, padding_share
from mentalglm.data.build import build_dataset
from mentalglm.data.io import write_json_atomic, write_text_atomic
from mentalglm.data.records import load_split
from mentalglm.data.tokenization import encode_records
from mentalglm.model.loading import load_tokenizer
from mentalglm.model.tiny import create_model_folder

log = logging.getLogger(__name__)


def _table(rows: list[list[str]], header: list[str]) -> str:
    widths = [max(len(str(x)) for x in col) for col in zip(header, *rows)]
    fmt = lambda r: "| " + " | ".join(str(x).ljust(w) for x, w in zip(r, widths)) + " |"  # noqa: E731
    return "\n".join([fmt(header), "|" + "|".join("-" * (w + 2) for w in widths) + "|", *map(fmt, rows)])


MEMORISED = "memorised records"


def _evaluate_stage(cfg: PipelineConfig, model_dir: Path | str, data_dir: Path, adapter: Path,
                    timings: dict[str, float], memorised: Path | None, name: str | None = None) -> str:
    """Score the adapter and the TF-IDF baseline on the eval split (and the memorised-records metrics, when
    given); return their side-by-side table."""
    from mentalglm.config.evaluate import EvaluateConfig
    from mentalglm.evaluate.baseline import run_baseline
    from mentalglm.evaluate.report import compare_table
    from mentalglm.evaluate.run import evaluate

    start = time.perf_counter()
    eval_cfg = load_config(EvaluateConfig, cfg.evaluate, [f"model.name_or_path={model_dir}", f"data.dir={data_dir}"])
    out = Path(cfg.out_dir)
    evaluate(eval_cfg, adapter, cfg.eval_split, out / "evaluate", model_name="lora-" + (name or adapter.parent.name))
    run_baseline(eval_cfg, cfg.eval_split, out / "baseline")
    timings["evaluate"] = time.perf_counter() - start
    columns = [out / "evaluate" / "metrics.json", out / "baseline" / "metrics.json"]
    return compare_table(columns + ([memorised] if memorised else []))


def _sweep_stage(cfg: PipelineConfig, model_dir: Path | str, data_dir: Path,
                 timings: dict[str, float]) -> tuple[Path | None, dict, str]:
    """Run the sweep of `cfg.tune` on this model and data; return its best adapter, a summary (trials, winner, the
    served model id naming it) and the report section."""
    from mentalglm.config.tune import TuneConfig
    from mentalglm.tune import run_sweep

    start = time.perf_counter()
    tune_cfg = load_config(TuneConfig, cfg.tune, [f"model.name_or_path={model_dir}", f"data.dir={data_dir}"])
    result = run_sweep(tune_cfg)
    timings["sweep"] = time.perf_counter() - start
    metric, mode = tune_cfg.resolved_metric()
    winner = result.best_metrics.get("trial_id")
    served = f"mentalglm-{tune_cfg.run.name}-{winner}" if winner else None
    keys = list(tune_cfg.tune.search_space)
    trials = [{"trial": row["trial_id"], **{k: row.get(k) for k in keys}, metric: row.get(metric),
               "reports": row.get("iterations"), "status": row.get("status")} for row in result.rows]
    summary = {"sweep_dir": str(result.sweep_dir), "best_adapter": str(result.best_dir) if result.best_dir else None,
               "metric": metric, "mode": mode, "winner": winner, "served_model_id": served, "trials": trials}

    def cell(v: object) -> str:
        return f"{v:.4g}" if isinstance(v, float) else str(v)

    table = _table([[cell(t[c]) for c in trials[0]] for t in trials], list(trials[0])) if trials else "no trials"
    stopped = [t["trial"] for t in trials if t["status"] == "STOPPED_EARLY"]
    asha = f"ASHA stopped {', '.join(stopped)} early" if stopped else "ASHA stopped no trial early"
    why = (f"Winner: **{winner}**, the {'lowest' if mode == 'min' else 'highest'} {metric} at its last report "
           f"({cell(result.best_metrics.get(metric))}) among the trials that reported it; {asha}. Its adapter "
           f"(`{result.best_dir}`) is what is evaluated and served, as `{served}`.") if winner \
        else "No trial reported the metric: nothing to evaluate or serve."
    return result.best_dir, summary, table + "\n\n" + why


def _memorise_stage(cfg: PipelineConfig, model_dir: Path | str,
                    timings: dict[str, float]) -> tuple[Path, list[list[str]]]:
    """Train an adapter on the memorise records and score it on them; return its metrics.json and a few of
    its answers (task, trained answer, model answer)."""
    from mentalglm.config.evaluate import EvaluateConfig
    from mentalglm.config.train import TrainConfig
    from mentalglm.evaluate.run import evaluate
    from mentalglm.train import train as run_training

    start = time.perf_counter()
    data_cfg = load_config(DataBuildConfig, cfg.memorise.data_build)
    build_dataset(data_cfg)
    data_dir = data_cfg.out_dir
    result = run_training(load_config(TrainConfig, cfg.memorise.train, [
        f"model.name_or_path={model_dir}", f"data.dir={data_dir}"]))
    eval_cfg = load_config(EvaluateConfig, cfg.evaluate, [f"model.name_or_path={model_dir}",
                                                          f"data.dir={data_dir}"])
    out = Path(cfg.out_dir) / "memorised"
    evaluate(eval_cfg, result.final_dir, "train", out, model_name=MEMORISED)
    timings["memorise"] = time.perf_counter() - start
    records = {r.id: r for r in load_split(data_dir, "train")}
    shown: list[list[str]] = []
    for line in (out / "predictions.jsonl").read_text(encoding="utf-8").splitlines():
        p = json.loads(line)
        if p["task"] not in {row[0] for row in shown}:
            shown.append([p["task"], records[p["id"]].response, p["raw"]])
    return out / "metrics.json", shown


def run_pipeline(cfg: PipelineConfig) -> dict:
    """Run every stage of the main job and write `{out_dir}/summary.md` and `summary.json`.

    Returns:
        the summary (stage timings, record counts, tokenisation figures), with the report's text (`report`) and
        where it was written (`report_path`).

    Raises:
        ConfigError, DataError, ModelLoadError: from the stage that failed.
    """
    timings: dict[str, float] = {}
    if cfg.data_build is not None:
        start = time.perf_counter()
        data_cfg = load_config(DataBuildConfig, cfg.data_build)
        data_dir = Path(data_cfg.out_dir)
        stats = build_dataset(data_cfg)
        timings["data build"] = time.perf_counter() - start
    else:
        data_dir = Path(cfg.data_dir)
        try:
            stats = json.loads((data_dir / "stats.json").read_text(encoding="utf-8"))
        except OSError:
            raise ConfigError(f"data_dir: {data_dir}/stats.json not found; build the data there first "
                              "(bash deploy/prepare-data.sh on a cluster)") from None

    if cfg.model_init is not None:
        start = time.perf_counter()
        model_dir: Path | str = create_model_folder(load_config(ModelInitConfig, cfg.model_init))
        timings["model init"] = time.perf_counter() - start
    else:
        model_dir = cfg.model

    start = time.perf_counter()
    tokenizer = load_tokenizer(ModelConfig(name_or_path=str(model_dir)))
    train = load_split(data_dir, "train")
    encoded = encode_records(train, tokenizer, cfg.tokenization.max_seq_len, cfg.tokenization.min_post_chars)
    lengths = [len(e) for e in encoded]
    grouped = padding_share(lengths, length_grouped_batches(lengths, cfg.batch_size, seed=0))
    ungrouped = padding_share(lengths, length_grouped_batches(lengths, cfg.batch_size, seed=0, group_factor=1))
    timings["tokenise"] = time.perf_counter() - start

    train_rows: list[list[str]] = []
    train_summary: dict = {}
    if cfg.train is not None:
        from mentalglm.config.train import TrainConfig
        from mentalglm.train import train as run_training

        start = time.perf_counter()
        result = run_training(load_config(TrainConfig, cfg.train, [f"model.name_or_path={model_dir}",
                                                                    f"data.dir={data_dir}"]))
        timings["train"] = time.perf_counter() - start
        m = result.metrics
        train_summary = {"final_adapter": str(result.final_dir), "steps": m.get("step"),
                         "initial_val_loss": m.get("initial_val_loss"), "final_val_loss": m.get("val_loss"),
                         "tokens_per_s": m.get("tokens_per_s")}
        train_rows = [[k, f"{v:.4f}" if isinstance(v, float) else v] for k, v in train_summary.items()]

    adapter = Path(train_summary["final_adapter"]) if train_summary.get("final_adapter") not in (None, "None") \
        else None
    sweep_summary: dict = {}
    sweep_section, served_id = "", None
    if cfg.tune is not None:
        adapter, sweep_summary, sweep_section = _sweep_stage(cfg, model_dir, data_dir, timings)
        served_id = sweep_summary["served_model_id"]

    memorised, memorised_rows = None, []
    if cfg.memorise is not None and cfg.evaluate is not None:
        memorised, memorised_rows = _memorise_stage(cfg, model_dir, timings)
    comparison = ""
    if cfg.evaluate is not None and adapter is not None:
        comparison = _evaluate_stage(cfg, model_dir, data_dir, adapter, timings, memorised,
                                     name=served_id and served_id.removeprefix("mentalglm-"))

    smoke: list[dict] = []
    if cfg.serve is not None and adapter is not None:
        from mentalglm.serve.smoke import serve_smoke

        start = time.perf_counter()
        smoke = serve_smoke(cfg.serve, model_dir, data_dir, adapter, cfg.serve_port, model_id=served_id)
        timings["serve smoke"] = time.perf_counter() - start

    rows = []
    for split, tasks in stats["counts"].items():
        for task, counts in tasks.items():
            rows.append([split, task, counts["total"], len(counts["labels"])])
    tok_summary = {
        "examples": len(encoded), "mean_tokens": round(sum(lengths) / max(1, len(lengths)), 1),
        "max_tokens": max(lengths, default=0),
        "posts_shortened": sum(e.post_truncated for e in encoded),
        "explanations_cut": sum(e.response_truncated for e in encoded),
        "padding_share_grouped": round(grouped, 4), "padding_share_random": round(ungrouped, 4),
        "loss_tokens": sum(sum(1 for lab in e.labels if lab != -100) for e in encoded),
    }
    summary = {"data_dir": str(data_dir), "model_dir": str(model_dir), "records": stats["counts"],
               "tokenization": tok_summary, "train": train_summary, "sweep": sweep_summary, "timings_s": {k: round(v, 2) for k, v in timings.items()},
               "tasks_in_train": dict(Counter(r.task for r in train)), "serve_smoke": smoke,
               "memorised": [{"task": t, "trained": want, "answer": got} for t, want, got in memorised_rows]}
    memorised_note = (
        f"The `{MEMORISED}` column scores a second adapter on the records it was trained "
        "on: it shows that prompts, chat template, loss mask, stop tokens, export, generation and parsing agree "
        "(the tiny model memorises; it knows no Chinese). Its answers:\n\n"
        + _table([[t, want, got] for t, want, got in memorised_rows], ["task", "trained answer", "model answer"])
    ) if memorised_rows else ""
    report = "\n\n".join([
        "# MentalGLM pipeline summary",
        f"Data: `{data_dir}` · model: `{model_dir}`",
        "## Records\n" + _table(rows, ["split", "task", "records", "labels seen"]),
        "## Tokenisation (train)\n" + _table([[k, v] for k, v in tok_summary.items()], ["figure", "value"]),
        *(["## Training\n" + _table(train_rows, ["figure", "value"])] if train_rows else []),
        *(["## Sweep\n" + sweep_section] if sweep_section else []),
        *([f"## Evaluation ({cfg.eval_split})\n" + comparison] if comparison else []),
        *([memorised_note] if memorised_note else []),
        *(["## Serve smoke\n" + _table([[r["route"], r["status"], f"{r['latency_ms']:.0f}", r["answer"]] for r in smoke],
                                        ["request", "status", "ms", "answer"])] if smoke else []),
        "## Stage times (s)\n" + _table([[k, f"{v:.1f}"] for k, v in timings.items()], ["stage", "seconds"]),
    ]) + "\n"
    out = Path(cfg.out_dir)
    write_text_atomic(out / "summary.md", report)
    write_json_atomic(out / "summary.json", summary)
    summary["report"], summary["report_path"] = report, str(out / "summary.md")
    return summary
