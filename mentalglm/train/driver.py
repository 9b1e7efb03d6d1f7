"""The driver side of one training run: check, fingerprint, run Ray Train (TorchTrainer + DeepSpeed), export."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Sequence

from mentalglm.cluster import ensure_ray
from mentalglm.config.train import TrainConfig
from mentalglm.runs import RunLayout, publish
from mentalglm.train.export import TrainResult, already_finished, export_final
from mentalglm.train.fingerprint import check_rerun, config_fingerprint
from mentalglm.train.fingerprint import record as record_fingerprint
from mentalglm.train.checks import preflight, resolve_paths, with_lora_targets
from mentalglm.train.progress import follow_progress
from mentalglm.train.recipe import train_loop_per_worker

log = logging.getLogger(__name__)


def run_training(cfg: TrainConfig, callbacks: Sequence[Any] = ()) -> TrainResult:
    """One Ray Train run of `cfg` (no stages), with extra Ray Train `callbacks` (e.g. Tune's report callback).

    Raises:
        ConfigError: a check failed before any worker started.
    """
    from ray.train import CheckpointConfig, FailureConfig, RunConfig, ScalingConfig
    from ray.train.torch import TorchConfig, TorchTrainer

    from mentalglm.train.metrics import MetricsLogger  # imports Ray: `plan` and the CLI's start stay without it

    cfg = with_lora_targets(resolve_paths(cfg))  # `all-linear` as the model's own layer names, from here on
    layout = RunLayout.of(cfg.run)
    run_dir, final_location = layout.home, layout.final_location
    ds = preflight(cfg)
    fingerprint = config_fingerprint(cfg, ds)
    done = already_finished(final_location, layout.final_dir, fingerprint, cfg)
    if done is not None:
        log.info("%s already finished with this config; final adapter: %s", final_location, layout.final_dir)
        return done
    check_rerun(cfg, layout, fingerprint)
    record_fingerprint(layout, fingerprint)
    ensure_ray(cfg.ray)
    env = {"TOKENIZERS_PARALLELISM": "false", "OMP_NUM_THREADS": str(cfg.scaling.cpus_per_worker)}
    if not cfg.scaling.use_gpu:
        env["DS_ACCELERATOR"] = "cpu"
    trainer = TorchTrainer(
        train_loop_per_worker,
        train_loop_config={"cfg": cfg.model_dump(mode="json"), "deepspeed": ds, "fingerprint": fingerprint["sha256"]},
        torch_config=TorchConfig(backend="nccl" if cfg.scaling.use_gpu else "gloo"),
        scaling_config=ScalingConfig(num_workers=cfg.scaling.num_workers, use_gpu=cfg.scaling.use_gpu,
                                     resources_per_worker={"CPU": cfg.scaling.cpus_per_worker},
                                     accelerator_type=cfg.scaling.accelerator_type),
        run_config=RunConfig(
            name=cfg.run.name, storage_path=cfg.run.storage_path,
            checkpoint_config=CheckpointConfig(num_to_keep=cfg.checkpoint.num_to_keep,
                                               checkpoint_score_attribute=cfg.checkpoint.metric,
                                               checkpoint_score_order=cfg.checkpoint.mode),
            failure_config=FailureConfig(max_failures=cfg.failure.get("max_failures", 0)),
            callbacks=[MetricsLogger(run_dir), *callbacks],
            worker_runtime_env={"env_vars": env}),
    )
    with follow_progress(run_dir / "metrics.jsonl"):  # one line per report on the console
        result = trainer.fit()
    metrics = dict(result.metrics or {})
    ckpt = result.checkpoint
    final_dir = None
    if ckpt is not None and metrics.get("finished"):
        with ckpt.as_directory() as local_ckpt:  # downloads it when the storage is an object store
            final_dir = export_final(Path(local_ckpt), layout.final_dir, cfg, {**metrics, "checkpoint": ckpt.path},
                                     fingerprint)
        if layout.remote:
            publish.upload_published(final_dir, str(final_location))
            log.info("uploaded final adapter: %s", final_location)
        log.info("final adapter: %s", final_dir)
    elif ckpt is not None:
        log.info("stopped after step %s; rerun with run.name=%s to continue from %s", metrics.get("step"),
                 cfg.run.name, ckpt.path)
    return TrainResult(run_dir, final_dir, metrics, ckpt.path if ckpt else None,
                       str(final_location) if final_dir else None)
