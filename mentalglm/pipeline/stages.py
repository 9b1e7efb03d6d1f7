"""The stages of the main job, in order. Each runs from its own config file (with the model and data the earlier
stages made) and returns a small record for the report."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mentalglm.config import DataBuildConfig, ModelConfig, ModelInitConfig, PipelineConfig, load_config
from mentalglm.config.evaluate import EvaluateConfig
from mentalglm.config.train import TrainConfig
from mentalglm.config.tune import TuneConfig
from mentalglm.data.batching import length_grouped_batches, padding_share
from mentalglm.data.build import build_dataset
from mentalglm.data.records import load_split
from mentalglm.data.tokenization import encode_records
from mentalglm.errors import ConfigError
from mentalglm.model.loading import load_tokenizer
from mentalglm.model.tiny import create_model_folder

MEMORISED = "memorised records"


@dataclass
class Inputs:
    """The data and model every later stage runs on."""

    data_dir: Path
    model_dir: Path | str
    stats: dict


@dataclass
class Tokens:
    """Tokenisation figures of the training split (lengths, truncation, padding with and without grouping)."""

    figures: dict[str, Any]
    tasks_in_train: dict[str, int]


@dataclass
class Sweep:
    """The sweep's trials, its winner and the adapter that is evaluated and served."""

    best_dir: Path | None
    summary: dict[str, Any]
    best_value: Any = None


@dataclass
class Memorised:
    """The memorise check: its metrics file and one trained answer per task beside the model's."""

    metrics: Path
    answers: list[list[str]] = field(default_factory=list)


def _stage_config(schema: type, path: Path, inputs: Inputs, keys: dict[str, Any] | None = None) -> Any:
    """A stage's config from its file, on the pipeline's model and data, with the dotted `keys` set (paths as text)."""
    values = {"model.name_or_path": inputs.model_dir, "data.dir": inputs.data_dir, **(keys or {})}
    return load_config(schema, path, [f"{k}={json.dumps(str(v) if isinstance(v, Path) else v)}"
                                      for k, v in values.items()])


def prepare_inputs(cfg: PipelineConfig) -> Inputs:
    """Build the data (or read the built data's stats) and create the model (or take the given one).

    Raises:
        ConfigError: `data_dir` holds no built data.
    """
    if cfg.data_build is not None:
        data_cfg = load_config(DataBuildConfig, cfg.data_build)
        data_dir, stats = Path(data_cfg.out_dir), build_dataset(data_cfg)
    else:
        data_dir = Path(cfg.data_dir)
        try:
            stats = json.loads((data_dir / "stats.json").read_text(encoding="utf-8"))
        except OSError:
            raise ConfigError(f"data_dir: {data_dir}/stats.json not found; build the data there first "
                              "(bash deploy/prepare-data.sh on a cluster)") from None
    model_dir = create_model_folder(load_config(ModelInitConfig, cfg.model_init)) if cfg.model_init else cfg.model
    return Inputs(data_dir, model_dir, stats)


def tokenise(cfg: PipelineConfig, inputs: Inputs) -> Tokens:
    """Tokenise the training split as training will, and measure padding with and without length grouping."""
    tokenizer = load_tokenizer(ModelConfig(name_or_path=str(inputs.model_dir)))
    train = load_split(inputs.data_dir, "train")
    encoded = encode_records(train, tokenizer, cfg.tokenization.max_seq_len, cfg.tokenization.min_post_chars)
    lengths = [len(e) for e in encoded]
    grouped = padding_share(lengths, length_grouped_batches(lengths, cfg.batch_size, seed=0))
    ungrouped = padding_share(lengths, length_grouped_batches(lengths, cfg.batch_size, seed=0, group_factor=1))
    figures = {
        "examples": len(encoded), "mean_tokens": round(sum(lengths) / max(1, len(lengths)), 1),
        "max_tokens": max(lengths, default=0), "posts_shortened": sum(e.post_truncated for e in encoded),
        "explanations_cut": sum(e.response_truncated for e in encoded),
        "padding_share_grouped": round(grouped, 4), "padding_share_random": round(ungrouped, 4),
        "loss_tokens": sum(sum(1 for lab in e.labels if lab != -100) for e in encoded),
    }
    return Tokens(figures, dict(Counter(r.task for r in train)))


def train(cfg: PipelineConfig, inputs: Inputs) -> dict[str, Any]:
    """One training run of `cfg.train`: its final adapter, steps, val loss before and after, throughput."""
    from mentalglm.train import train as run_training

    result = run_training(_stage_config(TrainConfig, cfg.train, inputs))
    m = result.metrics
    return {"final_adapter": str(result.final_dir), "steps": m.get("step"),
            "initial_val_loss": m.get("initial_val_loss"), "final_val_loss": m.get("val_loss"),
            "tokens_per_s": m.get("tokens_per_s")}


def sweep(cfg: PipelineConfig, inputs: Inputs) -> Sweep:
    """The sweep of `cfg.tune`: its trials (settings, metric, reports, status), the winner and the served id."""
    from mentalglm.tune import run_sweep

    tune_cfg = _stage_config(TuneConfig, cfg.tune, inputs)
    result = run_sweep(tune_cfg)
    metric, mode = tune_cfg.resolved_metric()
    winner = result.best_metrics.get("trial_id")
    keys = list(tune_cfg.tune.search_space)
    trials = [{"trial": row["trial_id"], **{k: row.get(k) for k in keys}, metric: row.get(metric),
               "reports": row.get("iterations"), "status": row.get("status")} for row in result.rows]
    summary = {"sweep_dir": str(result.sweep_dir), "best_adapter": str(result.best_dir) if result.best_dir else None,
               "metric": metric, "mode": mode, "winner": winner,
               "served_model_id": f"mentalglm-{tune_cfg.run.name}-{winner}" if winner else None, "trials": trials}
    return Sweep(result.best_dir, summary, result.best_metrics.get(metric))


def memorise(cfg: PipelineConfig, inputs: Inputs) -> Memorised:
    """Train an adapter on the memorise records and score it on them, keeping one answer per task."""
    from mentalglm.evaluate.run import evaluate
    from mentalglm.train import train as run_training

    data_cfg = load_config(DataBuildConfig, cfg.memorise.data_build)
    build_dataset(data_cfg)
    own = Inputs(Path(data_cfg.out_dir), inputs.model_dir, {})
    result = run_training(_stage_config(TrainConfig, cfg.memorise.train, own))
    out = Path(cfg.out_dir) / "memorised"
    evaluate(_stage_config(EvaluateConfig, cfg.evaluate, own, {"evaluate.checkpoint": result.final_dir,
                                                               "evaluate.split": "train", "evaluate.out": out}),
             model_name=MEMORISED)
    records = {r.id: r for r in load_split(own.data_dir, "train")}
    shown: list[list[str]] = []
    for line in (out / "predictions.jsonl").read_text(encoding="utf-8").splitlines():
        p = json.loads(line)
        if p["task"] not in {row[0] for row in shown}:
            shown.append([p["task"], records[p["id"]].response, p["raw"]])
    return Memorised(out / "metrics.json", shown)


def evaluate_against_baseline(cfg: PipelineConfig, inputs: Inputs, adapter: Path, name: str) -> list[Path]:
    """Score the adapter and the TF-IDF baseline on `eval_split`; return their metrics files."""
    from mentalglm.evaluate.baseline import run_baseline
    from mentalglm.evaluate.run import evaluate

    out = Path(cfg.out_dir)
    evaluate(_stage_config(EvaluateConfig, cfg.evaluate, inputs, {
        "evaluate.checkpoint": adapter, "evaluate.split": cfg.eval_split, "evaluate.out": out / "evaluate"}),
        model_name="lora-" + name)
    run_baseline(_stage_config(EvaluateConfig, cfg.evaluate, inputs, {
        "evaluate.split": cfg.eval_split, "evaluate.out": out / "baseline"}))
    return [out / "evaluate" / "metrics.json", out / "baseline" / "metrics.json"]


def serve_smoke(cfg: PipelineConfig, inputs: Inputs, adapter: Path, model_id: str | None) -> list[dict]:
    """Start the adapter as a service, send three requests, stop it: one row per request."""
    from mentalglm.serve.smoke import serve_smoke as smoke

    return smoke(cfg.serve, inputs.model_dir, inputs.data_dir, adapter, cfg.serve_port, model_id=model_id)
