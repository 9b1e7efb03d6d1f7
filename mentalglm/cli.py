"""The `mentalglm` command line: one table maps each verb to one library function.

Every verb takes a YAML config and `key=value` overrides. `ray_jobs/*.py` call `job_main` with their verb,
so the CLI and the Ray job entry points share this one parser.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path
from dataclasses import dataclass
from typing import Any, Callable

from mentalglm.config import ConfigError, load_config
from mentalglm.config.schema import DataBuildConfig, DataFetchConfig, ModelInitConfig, PipelineConfig
from mentalglm.config.evaluate import EvaluateConfig
from mentalglm.config.explain import ExplainConfig
from mentalglm.config.judge import JudgeConfig
from mentalglm.config.rating import RateExportConfig, RateImportConfig
from mentalglm.config.serve import ServeConfig
from mentalglm.config.train import TrainConfig
from mentalglm.config.tune import TrainOrTuneConfig, TuneConfig


def _data_fetch(cfg: DataFetchConfig, args: argparse.Namespace) -> None:
    from mentalglm.data.fetch import fetch_sources

    if getattr(args, "source", None):
        cfg = cfg.model_copy(update={"source": args.source})
    report = fetch_sources(cfg)
    print(f"{report.out_dir}: {len(report.fetched)} fetched, {len(report.present)} already present "
          f"(hashes verified); {report.out_dir}/SOURCES.md")
    if report.missing:
        print("not in the mirror: " + ", ".join(report.missing))


def _data_build(cfg: DataBuildConfig, args: argparse.Namespace) -> None:
    from mentalglm.data.build import build_dataset

    stats = build_dataset(cfg)
    for split, tasks in stats["counts"].items():
        print(f"{cfg.out_dir}/{split}.jsonl: " + ", ".join(f"{t} {c['total']}" for t, c in tasks.items()))
    print(f"{cfg.out_dir}/stats.json")


def _data_explain(cfg: ExplainConfig, args: argparse.Namespace) -> None:
    from mentalglm.explain.run import run_explain

    if getattr(args, "review", None) is not None:
        cfg = cfg.model_copy(update={"review": args.review})
    stats = run_explain(cfg)
    r = stats["records"]
    print(f"{cfg.out_dir}: {r['kept']} of {r['asked']} records explained ({r['rejected']} rejected, "
          f"{r['failed']} failed requests); {stats['requests']} requests, {stats['cache_hits']} cached answers")
    print(f"{cfg.out_dir}/explain_stats.json" + (f", {cfg.out_dir}/review.csv" if cfg.review else ""))


def _rate_export(cfg: RateExportConfig, args: argparse.Namespace) -> None:
    from mentalglm.rating.export import export_rating_set

    counts = export_rating_set(cfg)
    print(f"{cfg.out_dir}: {sum(counts.values())} items (" + ", ".join(f"{k} {v}" for k, v in counts.items())
          + "); give raters labelstudio/ or ratings.csv, keep key/ from them")


def _rate_import(cfg: RateImportConfig, args: argparse.Namespace) -> None:
    from mentalglm.rating.report import import_ratings

    result = import_ratings(cfg)
    print(f"{result['ratings']} ratings; {cfg.out_dir}/report.md, ratings.json, means.png")


def _model_init(cfg: ModelInitConfig, args: argparse.Namespace) -> None:
    from mentalglm.model.tiny import create_model_folder

    print(f"model folder: {create_model_folder(cfg)}")


def _train(cfg: TrainConfig, args: argparse.Namespace) -> None:
    from mentalglm.train import train

    result = train(cfg)
    print(f"run folder: {result.run_dir}")
    if result.final_dir:
        print(f"final adapter: {result.final_dir}")


def _plan(cfg: TrainConfig, args: argparse.Namespace) -> None:
    from mentalglm.plan import format_plan, plan_config

    plans, header = plan_config(cfg)
    if header:
        print(header)
    print("\n\n".join(format_plan(plan, plans[i - 1] if i else None) for i, plan in enumerate(plans)))


def _tune(cfg: TuneConfig, args: argparse.Namespace) -> None:
    from mentalglm.tune import run_sweep

    result = run_sweep(cfg)
    print(f"sweep: {result.sweep_dir}/sweep.csv, {result.sweep_dir}/sweep.png")
    if result.best_dir:
        print(f"best adapter: {result.best_dir}")


def _evaluate(cfg: EvaluateConfig, args: argparse.Namespace) -> None:
    from mentalglm.evaluate.run import evaluate

    out = Path(args.out) if args.out else Path(cfg.evaluate.out_dir) / args.split
    generator = None
    if args.endpoint:
        from mentalglm.evaluate.endpoint import endpoint_generator

        generator = endpoint_generator(args.endpoint, cfg)
    judge = load_config(JudgeConfig, args.judge) if args.judge else None
    metrics = evaluate(cfg, args.checkpoint, args.split, out, generator=generator,
                       model_name=args.endpoint or None, judge=judge)
    _print_headlines(metrics)
    print(f"outputs: {out}/ (metrics.json, predictions.jsonl, report.md, confusion_*.png)")


def _baseline(cfg: EvaluateConfig, args: argparse.Namespace) -> None:
    from mentalglm.evaluate.baseline import run_baseline

    out = Path(args.out) if args.out else Path(cfg.evaluate.out_dir) / f"baseline-{args.split}"
    _print_headlines(run_baseline(cfg, args.split, out))
    print(f"outputs: {out}/ (metrics.json, predictions.jsonl, report.md)")


def _print_headlines(metrics: dict) -> None:
    from mentalglm.task_metrics import HEADLINE

    for task, m in metrics["tasks"].items():
        key = HEADLINE[task]
        print(f"{task}: {key} {m[key]:.4f} (n={m['n']}, parse failures {m['parse_failure_rate']:.1%})")


def _serve(cfg: ServeConfig, args: argparse.Namespace) -> None:
    from mentalglm.serve.service import model_id, resolve_checkpoint, start_service, wait_then_stop

    url = start_service(cfg, args.checkpoint)
    if getattr(args, "detach", False):
        print(f"serving at {url}/ (left running on the Ray cluster; stop with `serve delete {cfg.serve.app_name}`)")
        return
    print(f"serving {model_id(cfg, resolve_checkpoint(cfg, args.checkpoint))} at {url}/ (analyst page), "
          f"{url}/v1/analyze, {url}/v1/chat/completions; Ctrl-C stops", flush=True)
    wait_then_stop(cfg.serve.app_name)


def _pipeline(cfg: PipelineConfig, args: argparse.Namespace) -> None:
    from mentalglm.pipeline import run_pipeline

    summary = run_pipeline(cfg)
    print(summary["report"])
    print(f"report: {summary['report_path']}")


@dataclass(frozen=True)
class Option:
    """A verb-specific command-line option (argparse flags and keyword arguments)."""

    flags: tuple[str, ...]
    kwargs: dict


@dataclass(frozen=True)
class Verb:
    """One CLI verb: its config schema, the function it runs, its help line and extra options."""

    schema: type
    run: Callable[[Any, argparse.Namespace], None]
    help: str
    options: tuple[Option, ...] = ()


_SPLIT = Option(("--split",), {"default": "test", "choices": ["train", "val", "test"], "help": "split to score"})
_OUT = Option(("--out",), {"default": None, "help": "output folder"})


VERBS: dict[str, Verb] = {
    "data fetch": Verb(DataFetchConfig, _data_fetch, "download the pinned public sources, verify their SHA-256", (
        Option(("--from",), {"dest": "source", "default": None,
                             "help": "a mirror (folder or http(s) URL) laid out as out_dir, instead of upstream"}),)),
    "data build": Verb(DataBuildConfig, _data_build, "convert raw sources into unified records"),
    "data explain": Verb(ExplainConfig, _data_explain, "a teacher model writes the 理由 of label-only records, "
                         "verified (Ray Data)", (
        Option(("--review",), {"type": int, "default": None, "metavar": "N",
                               "help": "also write review.csv: a stratified sample of N kept and rejected answers"}),)),
    "model init": Verb(ModelInitConfig, _model_init, "create a random-weight GLM-4 model + tokenizer folder"),
    "train": Verb(TrainConfig, _train, "LoRA fine-tuning with Ray Train + DeepSpeed"),
    "plan": Verb(TrainOrTuneConfig, _plan, "memory per GPU, FLOPs, steps and wall time of a train or tune config "
                 "(no GPU needed)"),
    "tune": Verb(TuneConfig, _tune, "Ray Tune sweep of LoRA settings (ASHA); best adapter to …/best/"),
    "evaluate": Verb(EvaluateConfig, _evaluate, "generate, parse and score a split (or --compare metrics files)", (
        Option(("--checkpoint",), {"default": None, "help": "PEFT adapter folder (e.g. runs/NAME/final)"}),
        _SPLIT, _OUT,
        Option(("--endpoint",), {"default": None, "help": "score through a running service at this URL"}),
        Option(("--judge",), {"default": None, "metavar": "JUDGE_CONFIG",
                              "help": "also score the explanations with an LLM judge (configs/judge/*.yaml)"}),
        Option(("--compare",), {"nargs": "+", "metavar": "METRICS", "default": None,
                                "help": "print one side-by-side table of these metrics.json files (no CONFIG)"}))),
    "baseline": Verb(EvaluateConfig, _baseline, "TF-IDF + logistic regression per task, fit on train",
                     (_SPLIT, _OUT)),
    "serve": Verb(ServeConfig, _serve, "Ray Serve app: /v1/analyze, OpenAI chat, analyst page (127.0.0.1:8000)", (
        Option(("--checkpoint",), {"default": None, "help": "PEFT adapter folder (default: serve.checkpoint)"}),
        Option(("--detach",), {"action": "store_true",
                               "help": "deploy and return, leaving the app on the (non-local) Ray cluster"}))),
    "rate export": Verb(RateExportConfig, _rate_export, "a blinded rating set of explanations (Label Studio + CSV)"),
    "rate import": Verb(RateImportConfig, _rate_import, "ratings back: means, agreement, correlation with metrics"),
    "pipeline": Verb(PipelineConfig, _pipeline, "the main job: build, train, evaluate vs baseline, serve smoke"),
}


def build_parser() -> argparse.ArgumentParser:
    """The argparse parser for every verb of `VERBS` (nested for two-word verbs such as `data build`)."""
    parser = argparse.ArgumentParser(prog="mentalglm", description=__doc__.splitlines()[0])
    parser.add_argument("--log-level", default="INFO", help="logging level (post text is never logged)")
    groups = parser.add_subparsers(dest="group", required=True, metavar="VERB")
    nested: dict[str, Any] = {}
    for name, verb in VERBS.items():
        words = name.split()
        if len(words) == 1:
            sub = groups.add_parser(words[0], help=verb.help)
        else:
            if words[0] not in nested:
                group = groups.add_parser(words[0], help=f"{words[0]} commands")
                nested[words[0]] = group.add_subparsers(dest="action", required=True, metavar="ACTION")
            sub = nested[words[0]].add_parser(words[1], help=verb.help)
        sub.add_argument("config", nargs="?" if name == "evaluate" else None, help="YAML config file")
        sub.add_argument("overrides", nargs="*", metavar="key=value", help="override a config key")
        for option in verb.options:
            sub.add_argument(*option.flags, **option.kwargs)
        sub.set_defaults(verb=name)
    return parser


def _setup_logging(level: str) -> None:
    logging.basicConfig(level=level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    os.environ["MENTALGLM_LOG_LEVEL"] = level.upper()  # Ray workers started from here log at the same level


def run_verb(name: str, config: str, overrides: list[str], args: argparse.Namespace | None = None) -> int:
    """Load `config` with `overrides` for verb `name` and run it; errors print one message, exit status 2."""
    from mentalglm.data.io import DataError
    from mentalglm.evaluate.endpoint import EndpointError
    from mentalglm.model.loading import ModelLoadError
    from mentalglm.publish import AdapterError

    verb = VERBS[name]
    try:
        cfg = load_config(verb.schema, config, overrides)
        verb.run(cfg, args or argparse.Namespace())
    except (ConfigError, DataError, ModelLoadError, EndpointError, AdapterError, FileNotFoundError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


def parse_args(parser: argparse.ArgumentParser, argv: list[str] | None) -> argparse.Namespace:
    """Parse `argv` with options and `key=value` overrides in any order: argparse takes the positionals only up
    to the first option, so every later `key=value` word is collected here as an override.

    Raises:
        SystemExit: (parser.error) a leftover word that is neither an option nor `key=value`.
    """
    args, extras = parser.parse_known_args(argv)
    unknown = [word for word in extras if word.startswith("-") or "=" not in word]
    if unknown:
        parser.error(f"unrecognized arguments: {' '.join(unknown)}")
    args.overrides = [*(getattr(args, "overrides", None) or []), *extras]
    return args


def main(argv: list[str] | None = None) -> int:
    """Entry point of the `mentalglm` console script."""
    parser = build_parser()
    args = parse_args(parser, argv)
    _setup_logging(args.log_level)
    if getattr(args, "compare", None):
        from mentalglm.evaluate.report import compare_table

        try:
            print(compare_table(([args.config] if args.config else []) + args.compare))
        except (FileNotFoundError, ValueError) as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        return 0
    if args.config is None:
        parser.error(f"{args.verb}: CONFIG is required")
    return run_verb(args.verb, args.config, args.overrides, args)


def job_main(verb: str, argv: list[str] | None = None) -> int:
    """Entry point of `ray_jobs/*.py`: `--config PATH [key=value ...]` for the one verb of that job."""
    parser = argparse.ArgumentParser(prog=f"ray_jobs ({verb})", description=VERBS[verb].help)
    parser.add_argument("--config", required=True, help="YAML config file")
    parser.add_argument("--log-level", default="INFO")
    for option in VERBS[verb].options:
        parser.add_argument(*option.flags, **option.kwargs)
    parser.add_argument("overrides", nargs="*", metavar="key=value")
    args = parse_args(parser, argv)
    _setup_logging(args.log_level)
    return run_verb(verb, args.config, args.overrides, args)


if __name__ == "__main__":
    raise SystemExit(main())
