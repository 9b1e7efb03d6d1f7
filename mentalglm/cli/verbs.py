"""The verb table: each verb's config schema, the one library function it calls, its help line and the options
that spell its config keys."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from mentalglm.config import DataBuildConfig, DataFetchConfig, ModelInitConfig, PipelineConfig
from mentalglm.config.evaluate import EvaluateConfig
from mentalglm.config.explain import ExplainConfig
from mentalglm.config.rating import RateExportConfig, RateImportConfig
from mentalglm.config.serve import ServeConfig
from mentalglm.config.train import TrainConfig
from mentalglm.config.tune import TrainOrTuneConfig, TuneConfig


def _data_fetch(cfg: DataFetchConfig) -> None:
    from mentalglm.data.fetch import fetch_sources

    report = fetch_sources(cfg)
    print(f"{report.out_dir}: {len(report.fetched)} fetched, {len(report.present)} already present "
          f"(hashes verified); {report.out_dir}/SOURCES.md")
    for what, names in (("modified (allow_modified_mirror)", report.modified), ("not in the mirror", report.missing)):
        if names:
            print(f"{what}: " + ", ".join(names))


def _data_build(cfg: DataBuildConfig) -> None:
    from mentalglm.data.build import build_dataset

    stats = build_dataset(cfg)
    for split, tasks in stats["counts"].items():
        print(f"{cfg.out_dir}/{split}.jsonl: " + ", ".join(f"{t} {c['total']}" for t, c in tasks.items()))
    print(f"{cfg.out_dir}/stats.json")


def _data_explain(cfg: ExplainConfig) -> None:
    from mentalglm.explain.run import run_explain

    stats = run_explain(cfg)
    r = stats["records"]
    print(f"{cfg.out_dir}: {r['kept']} of {r['asked']} records explained ({r['rejected']} rejected, "
          f"{r['failed']} failed requests); {stats['requests']} requests, {stats['cache_hits']} cached answers")
    print(f"{cfg.out_dir}/explain_stats.json" + (f", {cfg.out_dir}/review.csv" if cfg.review else ""))


def _rate_export(cfg: RateExportConfig) -> None:
    from mentalglm.rating.export import export_rating_set
    counts = export_rating_set(cfg)
    print(f"{cfg.out_dir}: {sum(counts.values())} items (" + ", ".join(f"{k} {v}" for k, v in counts.items())
          + "); give raters labelstudio/ or ratings.csv, keep key/ from them")


def _rate_import(cfg: RateImportConfig) -> None:
    from mentalglm.rating.report import import_ratings
    result = import_ratings(cfg)
    print(f"{result['ratings']} ratings; {cfg.out_dir}/report.md, ratings.json, means.png")


def _model_init(cfg: ModelInitConfig) -> None:
    from mentalglm.model.tiny import create_model_folder
    print(f"model folder: {create_model_folder(cfg)}")


def _train(cfg: TrainConfig) -> None:
    from mentalglm.train import train

    result = train(cfg)
    print(f"run folder: {result.run_dir}")
    if result.final_dir:
        print(f"final adapter: {result.final_dir}")


def _plan(cfg: TrainConfig) -> None:
    from mentalglm.plan import format_plan
    from mentalglm.tune import plan_config

    plans, header = plan_config(cfg)
    if header:
        print(header)
    print("\n\n".join(format_plan(plan, plans[i - 1] if i else None) for i, plan in enumerate(plans)))


def _tune(cfg: TuneConfig) -> None:
    from mentalglm.tune import run_sweep

    result = run_sweep(cfg)
    print(f"sweep: {result.sweep_dir}/sweep.csv, {result.sweep_dir}/sweep.png")
    if result.best_dir:
        print(f"best adapter: {result.best_dir}")


def _evaluate(cfg: EvaluateConfig) -> None:
    from mentalglm.evaluate.report import headlines
    from mentalglm.evaluate.run import evaluate

    print(headlines(evaluate(cfg)))
    print(f"outputs: {cfg.evaluate.output_dir()}/ (metrics.json, predictions.jsonl, report.md, confusion_*.png)")


def _evaluate_compare(paths: list[str]) -> None:
    from mentalglm.evaluate.report import compare_table
    print(compare_table(paths))


def _baseline(cfg: EvaluateConfig) -> None:
    from mentalglm.evaluate.baseline import run_baseline
    from mentalglm.evaluate.report import headlines

    print(headlines(run_baseline(cfg)))
    print(f"outputs: {cfg.evaluate.output_dir(baseline=True)}/ (metrics.json, predictions.jsonl, report.md)")


def _serve(cfg: ServeConfig) -> None:
    from mentalglm.cluster.signals import stopped_by
    from mentalglm.serve.service import model_id, resolve_checkpoint, start_service, wait_then_stop

    url = start_service(cfg)
    if cfg.serve.detach:
        print(f"serving at {url}/ (left running on the Ray cluster; stop with `serve delete {cfg.serve.app_name}`)")
        return
    print(f"serving {model_id(cfg, resolve_checkpoint(cfg, None))} at {url}/ (analyst page), "
          f"{url}/v1/analyze, {url}/v1/chat/completions; Ctrl-C or SIGTERM stops", flush=True)
    wait_then_stop(cfg.serve.app_name)
    print(f"stopped ({stopped_by()}): {cfg.serve.app_name} deleted after the requests in flight finished (up to "
          f"{cfg.serve.shutdown_grace_s:g} s, serve.shutdown_grace_s)", flush=True)


def _pipeline(cfg: PipelineConfig) -> None:
    from mentalglm.pipeline import run_pipeline

    summary = run_pipeline(cfg)
    print(summary["report"])
    print(f"report: {summary['report_path']}\nlog: {summary['log_path']}")


@dataclass(frozen=True)
class Option:
    """A command-line spelling of one config key: `--split val` is `evaluate.split=val`."""

    flags: tuple[str, ...]
    key: str
    help: str
    kwargs: dict | None = None


@dataclass(frozen=True)
class Verb:
    """One CLI verb: its config schema (None: it takes files, not a config), the function it runs, its help line
    and the options that spell its config keys."""

    schema: type | None
    run: Callable[[Any], None]
    help: str
    options: tuple[Option, ...] = ()


_SPLIT = Option(("--split",), "evaluate.split", "split to score", {"choices": ["train", "val", "test"]})
_OUT = Option(("--out",), "evaluate.out", "output folder")
_CHECKPOINT = Option(("--checkpoint",), "evaluate.checkpoint", "PEFT adapter folder (e.g. runs/NAME/final)")

VERBS: dict[str, Verb] = {
    "data fetch": Verb(DataFetchConfig, _data_fetch, "download the pinned public sources, verify their SHA-256", (
        Option(("--from",), "source", "a mirror (folder or http(s) URL) laid out as out_dir, instead of upstream"),)),
    "data build": Verb(DataBuildConfig, _data_build, "convert raw sources into unified records"),
    "data explain": Verb(ExplainConfig, _data_explain, "a teacher model writes the 理由 of label-only records, "
                         "verified (Ray Data)", (
        Option(("--review",), "review", "also write review.csv: a stratified sample of N kept and rejected answers",
               {"type": int, "metavar": "N"}),)),
    "model init": Verb(ModelInitConfig, _model_init, "create a random-weight GLM-4 model + tokenizer folder"),
    "train": Verb(TrainConfig, _train, "LoRA fine-tuning with Ray Train + DeepSpeed"),
    "plan": Verb(TrainOrTuneConfig, _plan, "memory per GPU, FLOPs, steps and wall time of a train or tune config "
                 "(no GPU needed)"),
    "tune": Verb(TuneConfig, _tune, "Ray Tune sweep of LoRA settings (ASHA); best adapter to …/best/"),
    "evaluate": Verb(EvaluateConfig, _evaluate, "generate, parse and score a split", (
        _CHECKPOINT, _SPLIT, _OUT,
        Option(("--endpoint",), "evaluate.endpoint", "score through a running service at this URL"),
        Option(("--judge",), "evaluate.judge", "also score the explanations with an LLM judge (configs/judge/*.yaml)",
               {"metavar": "JUDGE_CONFIG"}))),
    "evaluate compare": Verb(None, _evaluate_compare, "one side-by-side table of metrics.json files (no config)"),
    "baseline": Verb(EvaluateConfig, _baseline, "TF-IDF + logistic regression per task, fit on train",
                     (_SPLIT, _OUT)),
    "serve": Verb(ServeConfig, _serve, "Ray Serve app: /v1/analyze, OpenAI chat, analyst page (127.0.0.1:8000)", (
        Option(("--checkpoint",), "serve.checkpoint", "PEFT adapter folder (default: serve.checkpoint)"),
        Option(("--detach",), "serve.detach", "deploy and return, leaving the app on the (non-local) Ray cluster",
               {"action": "store_const", "const": True}))),
    "rate export": Verb(RateExportConfig, _rate_export, "a blinded rating set of explanations (Label Studio + CSV)"),
    "rate import": Verb(RateImportConfig, _rate_import, "ratings back: means, agreement, correlation with metrics"),
    "pipeline": Verb(PipelineConfig, _pipeline, "the main job: build, train, evaluate vs baseline, serve smoke"),
}
