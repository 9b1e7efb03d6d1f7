"""The fingerprint of what determines a run's weights, and the check that a rerun under the same name trains the
same thing.

In the fingerprint: the base model (a hub id, or a local folder's config.json hash and weight sizes), the
training data's content hash and tasks, tokenisation, LoRA, the optimisation settings, the DeepSpeed config and
ZeRO stage, the number of workers (it sets the global batch) and the seed. Not in it: what only steers the run
(`stop_after_step`, checkpoint cadence and retention, failure handling, Ray, paths, evaluation during training).

A rerun whose fingerprint differs from the run already under `{storage_path}/{name}` fails before any worker
starts, naming the keys that differ, unless `run.on_config_change: resume` says to continue anyway.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from mentalglm.runs import storage
from mentalglm.config import ConfigError
from mentalglm.config.train import TrainConfig
from mentalglm.runs.files import file_sha256
from mentalglm.runs.layout import RunLayout

_TRAIN_KEYS = ("epochs", "max_steps", "micro_batch_size", "grad_accum", "lr", "weight_decay", "warmup_ratio",
               "schedule", "max_grad_norm", "precision", "init_adapter")


def _model_identity(name_or_path: str) -> str:
    folder = Path(name_or_path)
    if not (folder / "config.json").is_file():
        return name_or_path  # a hub id
    weights = sorted((p.name, p.stat().st_size) for p in folder.iterdir()
                     if p.suffix in (".safetensors", ".bin") and p.is_file())
    return f"config.json sha256 {file_sha256(folder / 'config.json')[:16]}, weights {weights}"


def config_fingerprint(cfg: TrainConfig, deepspeed_config: dict[str, Any]) -> dict[str, Any]:
    """The weight-determining settings of `cfg` as a flat {key: value} dict, with their overall `sha256`."""
    keys: dict[str, Any] = {
        "model.name_or_path": _model_identity(cfg.model.name_or_path),
        "model.dtype": cfg.model.dtype,
        "data.dir (train.jsonl sha256)": file_sha256(Path(cfg.data.dir) / "train.jsonl"),
        "data.tasks": list(cfg.data.tasks),
        "run.seed": cfg.run.seed,
        "scaling.num_workers": cfg.scaling.num_workers,
        "deepspeed.config (as used)": hashlib.sha256(
            json.dumps(deepspeed_config, sort_keys=True).encode()).hexdigest()[:16],
        "deepspeed.zero_stage": cfg.deepspeed.zero_stage,
    }
    for section in ("tokenization", "lora"):
        for key, value in getattr(cfg, section).model_dump(mode="json").items():
            keys[f"{section}.{key}"] = value
    train = cfg.train.model_dump(mode="json")
    keys.update({f"train.{k}": train[k] for k in _TRAIN_KEYS})
    digest = hashlib.sha256(json.dumps(keys, sort_keys=True, default=str).encode()).hexdigest()
    return {"sha256": digest, "keys": keys}


def differing_keys(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """'key: old -> new' for every key whose value differs between two fingerprints."""
    a, b = old.get("keys", {}), new.get("keys", {})
    return [f"{k}: {a.get(k)!r} -> {b.get(k)!r}" for k in sorted(set(a) | set(b)) if a.get(k) != b.get(k)]


def refuse_if_changed(cfg: TrainConfig, what: str, old: dict[str, Any], new: dict[str, Any]) -> bool:
    """Whether `old` and `new` fingerprints agree; when they do not and `run.on_config_change` is `error`, refuse.

    Args:
        what: the stored run, for the message (`runs/x holds a finished run`).

    Raises:
        ConfigError: naming the keys that changed and the two ways on.
    """
    if old.get("sha256") == new["sha256"]:
        return True
    if cfg.run.on_config_change == "resume":
        return False
    raise ConfigError(
        f"run.name: {what} trained with other settings; changed: {'; '.join(differing_keys(old, new))}. Choose a "
        "new run.name to start over, or set run.on_config_change=resume to continue that run with the new "
        "settings.")


def check_rerun(cfg: TrainConfig, layout: RunLayout, fingerprint: dict[str, Any]) -> None:
    """Compare with the fingerprint of the run already stored under `{storage_path}/{name}` (if any).

    Raises:
        ConfigError: the stored run was trained with other weight-determining settings (named), and
            `run.on_config_change` is `error`.
    """
    try:
        old = json.loads(storage.read_text(layout.fingerprint_location))
    except (OSError, ValueError):
        return
    refuse_if_changed(cfg, f"{layout.store} holds a run", old, fingerprint)


def record(layout: RunLayout, fingerprint: dict[str, Any]) -> None:
    """Store the run's fingerprint beside its checkpoints (a file, or an object in the store)."""
    storage.write_text(layout.fingerprint_location, json.dumps(fingerprint, indent=2, ensure_ascii=False))
