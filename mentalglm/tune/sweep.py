"""`mentalglm tune`: Ray Tune over LoRA settings, each trial a full Ray Train + DeepSpeed run (Train V2 pattern).

Layout: `{storage_path}/{name}/tuner/` (Tune's state, for restoring), `…/trials/{trial_id}/` (each trial's Train
run: checkpoints, metrics.jsonl, final/), and the results `…/sweep.csv`, `…/sweep.png`, `…/best/`.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mentalglm.config import ConfigError
from mentalglm.config.train import TrainConfig
from mentalglm.config.deepspeed import read_deepspeed_config
from mentalglm.config.tune import TuneConfig
from mentalglm.plan import preflight_plan
from mentalglm.runs import storage
from mentalglm.runs.publish import AdapterError, read_manifest, resolve_adapter, upload_published
from mentalglm.cluster.capacity import runs_at_once
from mentalglm.cluster.connect import ensure_ray
from mentalglm.runs.layout import RunLayout
from mentalglm.train.checkpointing import ADAPTER_DIR
from mentalglm.tune.planning import heaviest_trial
from mentalglm.tune.outputs import export_best, plot_sweep, write_sweep_csv
from mentalglm.tune.space import check_search_space, trial_config, tune_domains

log = logging.getLogger(__name__)


@dataclass
class SweepResult:
    """Where a sweep left its results, and its best trial."""

    sweep_dir: Path
    best_dir: Path | None
    best_metrics: dict[str, Any]
    rows: list[dict[str, Any]]


def _run_trial(params: dict[str, Any], base: dict[str, Any], sweep: RunLayout) -> None:
    """The Tune trainable: one full Train run with the sampled params, reporting back through Tune."""
    import ray.tune
    from ray.tune.integration.ray_train import TuneReportCallback

    from mentalglm.train import run_training

    cfg = trial_config(base, params)
    trial = sweep.trial(ray.tune.get_context().get_trial_id())
    cfg = cfg.model_copy(update={"run": cfg.run.model_copy(update={
        "name": trial.name, "storage_path": trial.storage_path, "local_dir": trial.local_dir})})
    result = run_training(cfg, callbacks=[TuneReportCallback()])
    if result.already_finished:
        # A restored sweep reruns a trial whose Train run had finished before Tune's state recorded any of its
        # reports; nothing is trained or reported then, and Tune (ASHA) would fail the sweep on a final result
        # without the metric. Report the finished run's last metrics instead.
        ray.tune.report({k: v for k, v in result.metrics.items() if isinstance(v, (int, float, str, bool))})


def _search_alg(cfg: TuneConfig, concurrency: int):
    if cfg.tune.searcher == "random":
        from ray.tune.search import BasicVariantGenerator

        # The variant generator bounds concurrency itself (Tune ignores max_concurrent_trials for it).
        return BasicVariantGenerator(random_state=cfg.tune.seed, max_concurrent=concurrency)
    if any("grid" in d for d in cfg.tune.search_space.values()):
        raise ConfigError("tune.searcher: optuna cannot take grid domains; use choice")
    try:
        from ray.tune.search.optuna import OptunaSearch
    except ImportError:
        raise ConfigError("tune.searcher: optuna is not installed (pip install optuna)") from None
    return OptunaSearch(seed=cfg.tune.seed)


def _tuner(cfg: TuneConfig, trainable: Any, layout: RunLayout, concurrency: int) -> Any:
    """The sweep's Tuner: restored from run storage when a sweep of this name ran there before, else a new one."""
    from ray import tune
    from ray.tune.schedulers import ASHAScheduler

    from mentalglm.tune.placement_groups import ReleaseStrandedPlacementGroups
    from mentalglm.tune.progress import TrialLines

    state = layout.tuner_state
    if tune.Tuner.can_restore(str(state)):
        log.info("resuming the sweep in %s; finished trials are not rerun", state)
        return tune.Tuner.restore(str(state), trainable, resume_unfinished=True, resume_errored=True)
    metric, mode = cfg.resolved_metric()
    asha = cfg.tune.asha
    scheduler = ASHAScheduler(metric=metric, mode=mode, grace_period=asha.grace_period,
                              reduction_factor=asha.reduction_factor, max_t=asha.max_t)
    return tune.Tuner(
        trainable, param_space=tune_domains(cfg.tune.search_space),
        tune_config=tune.TuneConfig(num_samples=cfg.tune.num_samples, scheduler=scheduler,
                                    search_alg=_search_alg(cfg, concurrency),
                                    max_concurrent_trials=None if cfg.tune.searcher == "random" else concurrency),
        # a restored sweep gets its callbacks back from Tune's saved state
        run_config=tune.RunConfig(name="tuner", storage_path=str(layout.store),
                                  callbacks=[ReleaseStrandedPlacementGroups(), TrialLines(metric, _trial_count(cfg))]))


def _trial_count(cfg: TuneConfig) -> int:
    """How many trials the sweep runs: samples times every combination of the grid keys."""
    grids = [len(domain["grid"]) for domain in cfg.tune.search_space.values()
             if isinstance(domain, dict) and "grid" in domain]
    return cfg.tune.num_samples * math.prod(grids)


def run_sweep(cfg: TuneConfig) -> SweepResult:
    """Run (or resume) the sweep of `cfg` and export the best trial's adapter to `…/best/`.

    Raises:
        ConfigError: a bad search-space key or value, a trial that cannot fit the cluster or whose planned
            memory exceeds its GPU (the heaviest trial is planned), or any check of
            `mentalglm train` (data, model, target modules, DeepSpeed config) — all before a trial starts.
    """
    from ray import tune

    from mentalglm.train import preflight, resolve_paths, with_lora_targets

    check_search_space(cfg)
    base_cfg = with_lora_targets(resolve_paths(cfg.train_config()))
    preflight(base_cfg)
    if base_cfg.scaling.use_gpu and base_cfg.plan.check:
        trial, _ = heaviest_trial(cfg)  # the sampled trial with the most memory per GPU must fit too
        preflight_plan(trial, read_deepspeed_config(trial))
    ensure_ray(cfg.ray)
    # as many trials at once as the cluster holds (with ray.cluster: the most its autoscaler may run)
    fits = runs_at_once(base_cfg.ray, base_cfg.scaling)
    concurrency = min(fits, cfg.tune.max_concurrent_trials or fits)
    metric, mode = cfg.resolved_metric()
    # Tune's state and the trials' runs go to run storage (a folder or an object-store URI); sweep.csv,
    # sweep.png and best/ are written to a local folder (the same one unless storage is a URI) and uploaded.
    layout = RunLayout.of(base_cfg.run)
    sweep_dir = layout.home
    trainable = tune.with_resources(
        tune.with_parameters(_run_trial, base=base_cfg.model_dump(mode="json"), sweep=layout),
        # The trial only drives its Train run: it holds no CPU (the Train workers hold those), just a token of
        # memory, since Tune refuses an empty resource request.
        {"cpu": 0, "memory": 64 * 1024**2})
    tuner = _tuner(cfg, trainable, layout, concurrency)
    log.info("%d samples, up to %d trials at once (%d workers x %d CPU each), metric %s (%s)",
             cfg.tune.num_samples, concurrency, base_cfg.scaling.num_workers, base_cfg.scaling.cpus_per_worker,
             metric, mode)
    grid = tuner.fit()
    keys = list(cfg.tune.search_space)
    rows = write_sweep_csv(grid, metric, mode, keys, sweep_dir / "sweep.csv")
    plot_sweep(grid, metric, sweep_dir / "sweep.png")
    best_dir, best_metrics = _export_best(grid, metric, mode, base_cfg, layout)
    if layout.remote:
        for name in ("sweep.csv", "sweep.png"):
            if (sweep_dir / name).exists():
                storage.upload_file(sweep_dir / name, str(storage.join(layout.store, name)))
        if best_dir is not None:
            upload_published(best_dir, str(layout.best_location))
    return SweepResult(sweep_dir, best_dir, best_metrics, rows)


def _export_best(grid: Any, metric: str, mode: str, base: TrainConfig,
                 layout: RunLayout) -> tuple[Path | None, dict[str, Any]]:
    try:
        best = grid.get_best_result(metric=metric, mode=mode, scope="last", filter_nan_and_inf=True)
    except RuntimeError:
        log.warning("no trial reported %s; no best/ exported", metric)
        return None, {}
    trial_id = Path(best.path).name
    metrics = dict(best.metrics or {})
    final = layout.trial(str(metrics.get("trial_id", trial_id))).final_location
    fingerprint = None
    try:
        adapter = resolve_adapter(final)
        fingerprint = read_manifest(adapter)[0].get("fingerprint")
    except AdapterError:
        adapter = Path(metrics.get("checkpoint_path") or "") / ADAPTER_DIR
        if layout.remote or not metrics.get("checkpoint_path") or not adapter.exists():
            log.warning("best trial %s left no published adapter", metrics.get("trial_id"))
            return None, metrics
    config = trial_config(base.model_dump(mode="json"), {k: v for k, v in (best.config or {}).items()})
    best_dir = export_best(adapter, config.model_dump(mode="json"), metrics, layout.best_dir, fingerprint)
    log.info("best trial %s: %s %s; adapter %s", metrics.get("trial_id"), metric, metrics.get(metric), best_dir)
    return best_dir, metrics
