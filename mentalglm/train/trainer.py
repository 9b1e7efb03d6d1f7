"""`mentalglm train`: check the config, run Ray Train (one or several stages), export the final adapter."""

from __future__ import annotations

import json
import logging
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import yaml

from mentalglm.config import ConfigError, set_key
from mentalglm.config.train import TrainConfig
from mentalglm.data.io import write_json_atomic
from mentalglm import publish, storage
from mentalglm.capacity import runs_at_once
from mentalglm.ray_cluster import ensure_ray
from mentalglm.run_layout import RunLayout
from mentalglm.train.checkpointing import ADAPTER_DIR
from mentalglm.train.deepspeed_config import read_deepspeed_config
from mentalglm.train.fingerprint import check_rerun, config_fingerprint, refuse_if_changed
from mentalglm.train.fingerprint import record as record_fingerprint

log = logging.getLogger(__name__)


@dataclass
class TrainResult:
    """What a run left: its folder, its exported adapter (None if stopped early), the last metrics."""

    run_dir: Path
    final_dir: Path | None
    metrics: dict[str, Any]
    checkpoint: str | None
    final_location: str | None = None  # final/ in run storage: final_dir's path, or its URI when uploaded
    already_finished: bool = False  # found finished in run storage: no Train run happened, nothing was reported


def resolve_paths(cfg: TrainConfig) -> TrainConfig:
    """A copy of `cfg` with local paths made absolute, since Ray workers do not share the driver's cwd."""
    data = cfg.model_dump()
    data["data"]["dir"] = Path(cfg.data.dir).resolve()
    if Path(cfg.model.name_or_path).exists():
        data["model"]["name_or_path"] = str(Path(cfg.model.name_or_path).resolve())
    if cfg.train.init_adapter and not storage.is_uri(cfg.train.init_adapter):
        data["train"]["init_adapter"] = str(Path(cfg.train.init_adapter).resolve())
    data["deepspeed"]["config"] = Path(cfg.deepspeed.config).resolve()
    if not storage.is_uri(cfg.run.storage_path):
        data["run"]["storage_path"] = str(Path(cfg.run.storage_path).resolve())
    data["run"]["local_dir"] = Path(cfg.run.local_dir).resolve()
    return TrainConfig.model_validate(data)


def preflight(cfg: TrainConfig) -> dict[str, Any]:
    """Every check that can fail before a worker starts; returns the DeepSpeed config.

    Raises:
        ConfigError: naming the key: missing data files, an unloadable model, unknown LoRA target modules,
            an init adapter whose shape differs from `lora`, a bad DeepSpeed config, a GPU run whose planned
            memory exceeds its GPU (`mentalglm.plan`).
    """
    ds = read_deepspeed_config(cfg)
    runs_at_once(cfg.ray, cfg.scaling)
    planned = cfg.scaling.use_gpu and cfg.plan.check
    if planned:
        from mentalglm.plan import preflight_plan

        # memory per GPU against the worker type's, on the meta device (seconds); checks the LoRA targets too
        preflight_plan(cfg, ds)
    from mentalglm.data.io import DataError
    from mentalglm.data.split_records import split_records

    for split in dict.fromkeys(("train", cfg.data.val_split)):
        try:
            records = split_records(cfg.data.dir, split).only(cfg.data.tasks)
        except DataError as exc:
            raise ConfigError(f"data.dir: {exc}") from None
        if split == "train" and not records:
            raise ConfigError(f"data.tasks: no training records of {cfg.data.tasks} in {cfg.data.dir}")

    import torch
    from transformers import AutoConfig, AutoModelForCausalLM

    from mentalglm.model.loading import ModelLoadError, check_model_path
    from mentalglm.train.lora import adapter_settings, check_target_modules

    try:
        check_model_path(cfg.model.name_or_path)
        model_config = AutoConfig.from_pretrained(cfg.model.name_or_path,
                                                  trust_remote_code=cfg.model.trust_remote_code)
    except (OSError, ValueError, ModelLoadError) as exc:
        raise ConfigError(f"model.name_or_path: cannot load {cfg.model.name_or_path} ({exc})") from None
    if not planned:  # the plan built the same skeleton
        with torch.device("meta"):  # shapes only: no memory, even for a 9B model
            skeleton = AutoModelForCausalLM.from_config(model_config, trust_remote_code=cfg.model.trust_remote_code)
        check_target_modules(skeleton, cfg.lora.target_modules)
    if cfg.train.init_adapter:
        try:
            have = adapter_settings(publish.resolve_adapter(cfg.train.init_adapter))
        except publish.AdapterError as exc:
            raise ConfigError(f"train.init_adapter: {exc}") from None
        want = {"r": cfg.lora.r, "target_modules": sorted(cfg.lora.target_modules)}
        if {k: have[k] for k in want} != want:
            raise ConfigError(f"train.init_adapter: adapter has r={have['r']} on {have['target_modules']}, "
                              f"but lora asks r={cfg.lora.r} on {want['target_modules']}")
    return ds


def _config_text(cfg: TrainConfig) -> str:
    return yaml.safe_dump(cfg.model_dump(mode="json"), allow_unicode=True, sort_keys=False)


def _already_finished(final_location: str | Path, final_dir: Path, fingerprint: dict[str, Any],
                      cfg: TrainConfig) -> TrainResult | None:
    """The earlier result when `final_location` (a folder or URI) holds a published, finished run with this
    fingerprint, else None; an uploaded final/ is fetched (and verified) into `final_dir` when the local copy is
    missing or differs.

    Raises:
        ConfigError: the published run has another fingerprint and `run.on_config_change` is `error`.
    """
    try:
        manifest, _ = publish.read_manifest(final_location)
        metrics = json.loads(storage.read_text(storage.join(final_location, "metrics.json")))
    except (publish.AdapterError, OSError, ValueError):
        return None
    old = manifest.get("fingerprint") or {}
    if not refuse_if_changed(cfg, f"{final_location} holds a finished run", old, fingerprint):
        return None
    if not metrics.get("finished"):
        return None
    if storage.is_uri(final_location):
        fetched = publish.resolve_adapter(final_location)
        try:
            publish.verify_folder(final_dir, manifest)
        except publish.AdapterError:
            publish.publish_dir(final_dir, lambda tmp: shutil.copytree(fetched, tmp, dirs_exist_ok=True),
                                manifest.get("fingerprint"))
    else:
        publish.verify_folder(final_dir, manifest)
    return TrainResult(final_dir.parent, final_dir, metrics, metrics.get("checkpoint"), str(final_location),
                       already_finished=True)


def export_final(checkpoint_dir: Path, final_dir: Path, cfg: TrainConfig, metrics: dict[str, Any],
                 fingerprint: dict[str, Any]) -> Path:
    """Publish the checkpoint's adapter and tokenizer to `final_dir` with the resolved config, final metrics and
    a manifest carrying the run's fingerprint."""
    def fill(tmp: Path) -> None:
        shutil.copytree(checkpoint_dir / ADAPTER_DIR, tmp, dirs_exist_ok=True)
        (tmp / "config.yaml").write_text(_config_text(cfg), encoding="utf-8")
        write_json_atomic(tmp / "metrics.json", {"checkpoint": str(checkpoint_dir), **metrics})

    return publish.publish_dir(final_dir, fill, fingerprint)


def run_training(cfg: TrainConfig, callbacks: Sequence[Any] = ()) -> TrainResult:
    """One Ray Train run of `cfg` (no stages), with extra Ray Train `callbacks` (e.g. Tune's report callback).

    Raises:
        ConfigError: a check failed before any worker started.
    """
    from ray.train import CheckpointConfig, FailureConfig, RunConfig, ScalingConfig
    from ray.train.torch import TorchConfig, TorchTrainer

    from mentalglm.train.loop import train_loop_per_worker
    from mentalglm.train.metrics import MetricsLogger

    cfg = resolve_paths(cfg)
    layout = RunLayout.of(cfg.run)
    run_dir, final_location = layout.home, layout.final_location
    ds = preflight(cfg)
    fingerprint = config_fingerprint(cfg, ds)
    done = _already_finished(final_location, layout.final_dir, fingerprint, cfg)
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


def _stage_config(cfg: TrainConfig, index: int, previous_final: Path | None) -> TrainConfig:
    stage = cfg.stages[index]
    data = cfg.model_dump(mode="json", exclude={"stages"})
    child = RunLayout.of(cfg.run).child(stage.name)
    data["run"].update(storage_path=child.storage_path, local_dir=str(child.local_dir), name=child.name)
    if previous_final is not None:
        data["train"]["init_adapter"] = str(previous_final)
    for key, value in stage.overrides.items():
        set_key(data, key, value)
    try:
        return TrainConfig.model_validate(data)
    except Exception as exc:
        raise ConfigError(f"stages.{index} ({stage.name}): {exc}") from None


def train(cfg: TrainConfig) -> TrainResult:
    """Run `cfg`: one Ray Train run, or each of `cfg.stages` in order, stage k+1 starting from stage k's adapter.

    With stages, stage runs live in `{storage_path}/{name}/{stage}/` and the last stage's adapter is also
    exported to `{storage_path}/{name}/final/`.

    Raises:
        ConfigError: a check failed before any worker started (the message names the key).
    """
    if not cfg.stages:
        return run_training(cfg)
    stage_cfgs = [_stage_config(cfg, i, None) for i in range(len(cfg.stages))]  # all validated before stage 1
    if cfg.scaling.use_gpu and cfg.plan.check:
        from mentalglm.plan import preflight_plan

        for stage_cfg in stage_cfgs[1:]:  # stage 1 is checked by its own preflight
            preflight_plan(stage_cfg, read_deepspeed_config(stage_cfg))
    result: TrainResult | None = None
    for index in range(len(cfg.stages)):
        stage_cfg = stage_cfgs[0] if index == 0 else _stage_config(cfg, index, result.final_location)
        log.info("stage %d/%d: %s", index + 1, len(cfg.stages), cfg.stages[index].name)
        result = run_training(stage_cfg)
        if result.final_dir is None:
            return result
    stage_final = result.final_dir
    layout = RunLayout.of(cfg.run)
    manifest = publish.verify_folder(stage_final)
    final = publish.publish_dir(layout.final_dir.resolve(),
                                lambda tmp: shutil.copytree(stage_final, tmp, dirs_exist_ok=True,
                                                            ignore=shutil.ignore_patterns(publish.MANIFEST)),
                                manifest.get("fingerprint"))
    if layout.remote:
        publish.upload_published(final, str(layout.final_location))
    return TrainResult(result.run_dir.parent, final, result.metrics, result.checkpoint, str(layout.final_location))
