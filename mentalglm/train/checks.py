"""What the driver checks before any Ray Train worker starts, and the config with paths the workers can use."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mentalglm.cluster import runs_at_once
from mentalglm.config.deepspeed import read_deepspeed_config
from mentalglm.config.train import TrainConfig
from mentalglm.data.split_records import split_records
from mentalglm.errors import AdapterError, ConfigError, DataError, ModelLoadError
from mentalglm.model.loading import check_model_path
from mentalglm.model.lora_targets import resolve_target_modules
from mentalglm.plan import load_model_config, preflight_plan
from mentalglm.runs import storage
from mentalglm.runs.publish import resolve_adapter
from mentalglm.train.lora import adapter_settings


def resolve_paths(cfg: TrainConfig) -> TrainConfig:
    """A copy of `cfg` with local paths made absolute, since Ray workers do not share the driver's cwd. Only
    paths change, so the copy is not validated again."""
    def local(path: str | Path) -> str | Path:
        return path if storage.is_uri(path) else type(path)(Path(path).resolve())

    model, adapter = cfg.model.name_or_path, cfg.train.init_adapter
    return cfg.model_copy(update={
        "data": cfg.data.model_copy(update={"dir": Path(cfg.data.dir).resolve()}),
        "model": cfg.model.model_copy(update={"name_or_path": str(Path(model).resolve()) if Path(model).exists()
                                              else model}),
        "train": cfg.train.model_copy(update={"init_adapter": adapter and local(adapter)}),
        "deepspeed": cfg.deepspeed.model_copy(update={"config": Path(cfg.deepspeed.config).resolve()}),
        "run": cfg.run.model_copy(update={"storage_path": local(cfg.run.storage_path),
                                          "local_dir": Path(cfg.run.local_dir).resolve()}),
    })


def with_lora_targets(cfg: TrainConfig) -> TrainConfig:
    """A copy of `cfg` whose `lora.target_modules` are the model's own layer names (`all-linear` resolved, a list
    checked), read from a meta-device skeleton of the model (no weights, no memory; a hub name this machine does
    not have is read from its shipped reference shape, as `plan` does).

    Raises:
        ConfigError: the model's config cannot be read, or a target is not one of its Linear layers.
    """
    import torch
    from transformers import AutoModelForCausalLM

    try:
        check_model_path(cfg.model.name_or_path)  # a local path must hold a model; a hub id passes
    except ModelLoadError as exc:
        raise ConfigError(f"model.name_or_path: cannot load {cfg.model.name_or_path} ({exc})") from None
    model_config, _ = load_model_config(cfg.model)  # a local folder, the cache, or a shipped reference shape
    with torch.device("meta"):  # shapes only: no memory, even for a 9B model
        skeleton = AutoModelForCausalLM.from_config(model_config, trust_remote_code=cfg.model.trust_remote_code)
    targets = resolve_target_modules(skeleton, cfg.lora.target_modules)
    return cfg.model_copy(update={"lora": cfg.lora.model_copy(update={"target_modules": targets})})


def preflight(cfg: TrainConfig) -> dict[str, Any]:
    """Every check that can fail before a worker starts; returns the DeepSpeed config.

    Raises:
        ConfigError: naming the key: missing data files, an unloadable model, unknown LoRA target modules,
            an init adapter whose shape differs from `lora`, a bad DeepSpeed config, a GPU run whose planned
            memory exceeds its GPU (`mentalglm.plan`).
    """
    ds = read_deepspeed_config(cfg)
    cfg = with_lora_targets(cfg)  # the model's config loads and every LoRA target is one of its Linear layers
    if cfg.scaling.use_gpu and cfg.plan.check:
        preflight_plan(cfg, ds)  # memory per GPU against the worker type's, on the meta device (seconds)
    for split in dict.fromkeys(("train", cfg.data.val_split)):
        try:
            records = split_records(cfg.data.dir, split).only(cfg.data.tasks)
        except DataError as exc:
            raise ConfigError(f"data.dir: {exc}") from None
        if split == "train" and not records:
            raise ConfigError(f"data.tasks: no training records of {cfg.data.tasks} in {cfg.data.dir}")
    from transformers import AutoConfig

    try:  # the local folder was checked by with_lora_targets; a hub id must load here, not only its reference shape
        AutoConfig.from_pretrained(cfg.model.name_or_path, trust_remote_code=cfg.model.trust_remote_code)
    except (OSError, ValueError) as exc:
        raise ConfigError(f"model.name_or_path: cannot load {cfg.model.name_or_path} ({exc})") from None
    if cfg.train.init_adapter:
        try:
            have = adapter_settings(resolve_adapter(cfg.train.init_adapter))
        except AdapterError as exc:
            raise ConfigError(f"train.init_adapter: {exc}") from None
        want = {"r": cfg.lora.r, "target_modules": sorted(cfg.lora.target_modules)}
        if {k: have[k] for k in want} != want:
            raise ConfigError(f"train.init_adapter: adapter has r={have['r']} on {have['target_modules']}, "
                              f"but lora asks r={cfg.lora.r} on {want['target_modules']}")
    runs_at_once(cfg.ray, cfg.scaling)  # last: without ray.cluster this connects to (or starts) Ray
    return ds
