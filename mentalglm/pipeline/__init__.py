"""`mentalglm pipeline`, the main job: build data -> create model -> tokenise -> train or sweep -> (memorise check)
-> evaluate vs baseline -> serve smoke (the adapter as a service, three requests, stopped) -> summary.

Each stage (`stages`) runs from its own config file and returns a record; `report` renders them.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import IO, Any, Callable

from mentalglm.config import PipelineConfig
from mentalglm.evaluate.report import compare_table
from mentalglm.pipeline import report, stages
from mentalglm.pipeline.console import output_to
from mentalglm.train.progress import progress_to
from mentalglm.runs.files import write_json_atomic, write_text_atomic

__all__ = ["run_pipeline"]


class _Stages:
    """Runs stages one by one, timing each and printing its progress to the console."""

    def __init__(self, console: IO[str]):
        self.console, self.timings = console, {}

    def run(self, name: str, stage: Callable[..., Any], *args: Any) -> Any:
        print(f"[pipeline] {name} …", file=self.console, flush=True)
        start = time.perf_counter()
        result = stage(*args)
        self.timings[name] = time.perf_counter() - start
        print(f"[pipeline] {name}: done in {self.timings[name]:.1f} s", file=self.console, flush=True)
        return result


def run_pipeline(cfg: PipelineConfig) -> dict:
    """Run every stage of the main job and write `{out_dir}/summary.md` and `summary.json`. The console shows
    each stage's progress; what the stages print (Ray Tune's tables, progress bars, logs) goes to
    `{out_dir}/pipeline.log`.

    Returns:
        the summary (stage timings, record counts, tokenisation figures, trials, smoke requests), with the
        report's text (`report`), where it was written (`report_path`) and the log (`log_path`).

    Raises:
        UserError (ConfigError, DataError, ModelLoadError, …): from the stage that failed.
    """
    log_path = Path(cfg.out_dir) / "pipeline.log"
    with output_to(log_path) as console, progress_to(console):  # training progress lines stay on the terminal
        print(f"[pipeline] log: {log_path}", file=console, flush=True)
        summary = _run_stages(cfg, _Stages(console), log_path)
    summary["log_path"] = str(log_path)
    return summary


def _run_stages(cfg: PipelineConfig, run: _Stages, log_path: Path) -> dict:
    inputs = run.run("data and model", stages.prepare_inputs, cfg)
    tokens = run.run("tokenise", stages.tokenise, cfg, inputs)
    train = run.run("train", stages.train, cfg, inputs) if cfg.train else {}
    adapter = Path(train["final_adapter"]) if train.get("final_adapter") not in (None, "None") else None
    sweep, served_id = None, None
    if cfg.tune is not None:
        sweep = run.run("sweep", stages.sweep, cfg, inputs)
        adapter, served_id = sweep.best_dir, sweep.summary["served_model_id"]
    memorised = None
    if cfg.memorise is not None and cfg.evaluate is not None:
        memorised = run.run("memorise", stages.memorise, cfg, inputs)
    comparison = ""
    if cfg.evaluate is not None and adapter is not None:
        name = served_id.removeprefix("mentalglm-") if served_id else adapter.parent.name
        columns = run.run("evaluate", stages.evaluate_against_baseline, cfg, inputs, adapter, name)
        comparison = compare_table(columns + ([memorised.metrics] if memorised else []))
    smoke = run.run("serve smoke", stages.serve_smoke, cfg, inputs, adapter, served_id) \
        if cfg.serve is not None and adapter is not None else []
    text = report.render(inputs, tokens, train, sweep, comparison, cfg.eval_split, memorised, smoke, run.timings,
                         log_path)
    summary = report.summary_json(inputs, tokens, train, sweep, memorised, smoke, run.timings)
    path = Path(cfg.out_dir) / "summary.md"
    write_text_atomic(path, text)
    write_json_atomic(path.with_name("summary.json"), summary)
    summary["report"], summary["report_path"] = text, str(path)
    return summary

# The modules other packages may import; the rest are this package's own (tests/test_layering.py).
PUBLIC_MODULES = ()
