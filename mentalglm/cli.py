"""The `mentalglm` command line: one table maps each verb to one library function.

Every verb takes a YAML config and `key=value` overrides. `ray_jobs/*.py` call `job_main` with their verb,
so the CLI and the Ray job entry points share this one parser.
"""

from __future__ import annotations

import argparse
import logging
import sys
from dataclasses import dataclass
from typing import Any, Callable

from mentalglm.config import ConfigError, load_config
from mentalglm.config.schema import DataBuildConfig, ModelInitConfig, PipelineConfig


def _data_build(cfg: DataBuildConfig, args: argparse.Namespace) -> None:
    from mentalglm.data.build import build_dataset

    stats = build_dataset(cfg)
    for split, tasks in stats["counts"].items():
        print(f"{cfg.out_dir}/{split}.jsonl: " + ", ".join(f"{t} {c['total']}" for t, c in tasks.items()))
    print(f"{cfg.out_dir}/stats.json")


def _model_init(cfg: ModelInitConfig, args: argparse.Namespace) -> None:
    from mentalglm.model.tiny import create_model_folder

    print(f"model folder: {create_model_folder(cfg)}")


def _pipeline(cfg: PipelineConfig, args: argparse.Namespace) -> None:
    from mentalglm.pipeline import run_pipeline

    run_pipeline(cfg)


@dataclass(frozen=True)
class Verb:
    """One CLI verb: its config schema, the function it runs, and its help line."""

    schema: type
    run: Callable[[Any, argparse.Namespace], None]
    help: str


VERBS: dict[str, Verb] = {
    "data build": Verb(DataBuildConfig, _data_build, "convert raw sources into unified records"),
    "model init": Verb(ModelInitConfig, _model_init, "create a random-weight GLM-4 model + tokenizer folder"),
    "pipeline": Verb(PipelineConfig, _pipeline, "the main job: build data, create the model, summarise"),
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
        sub.add_argument("config", help="YAML config file")
        sub.add_argument("overrides", nargs="*", metavar="key=value", help="override a config key")
        sub.set_defaults(verb=name)
    return parser


def _setup_logging(level: str) -> None:
    logging.basicConfig(level=level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")


def run_verb(name: str, config: str, overrides: list[str], args: argparse.Namespace | None = None) -> int:
    """Load `config` with `overrides` for verb `name` and run it; errors print one message, exit status 2."""
    from mentalglm.data.io import DataError
    from mentalglm.model.loading import ModelLoadError

    verb = VERBS[name]
    try:
        cfg = load_config(verb.schema, config, overrides)
        verb.run(cfg, args or argparse.Namespace())
    except (ConfigError, DataError, ModelLoadError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


def main(argv: list[str] | None = None) -> int:
    """Entry point of the `mentalglm` console script."""
    args = build_parser().parse_args(argv)
    _setup_logging(args.log_level)
    return run_verb(args.verb, args.config, args.overrides, args)


def job_main(verb: str, argv: list[str] | None = None) -> int:
    """Entry point of `ray_jobs/*.py`: `--config PATH [key=value ...]` for the one verb of that job."""
    parser = argparse.ArgumentParser(prog=f"ray_jobs ({verb})", description=VERBS[verb].help)
    parser.add_argument("--config", required=True, help="YAML config file")
    parser.add_argument("--log-level", default="INFO")
    parser.add_argument("overrides", nargs="*", metavar="key=value")
    args = parser.parse_args(argv)
    _setup_logging(args.log_level)
    return run_verb(verb, args.config, args.overrides, args)


if __name__ == "__main__":
    raise SystemExit(main())
