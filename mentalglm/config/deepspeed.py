"""DeepSpeed JSON configs by reference: read, check, and fill the "auto" values from the train config."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from mentalglm.config import ConfigError
from mentalglm.config.train import TrainConfig

# Keys DeepSpeed would otherwise take from its own optimizer/scheduler sections: those JIT-compile FusedAdam or
# CPUAdam on first use, so the trainer passes a torch optimizer and scheduler instead.
_REFUSED_SECTIONS = ("optimizer", "scheduler")


def read_deepspeed_config(cfg: TrainConfig) -> dict[str, Any]:
    """The JSON of `deepspeed.config`, with `deepspeed.zero_stage` applied, checked.

    Raises:
        ConfigError: naming `deepspeed.config` and the bad key (missing file, bad JSON, ZeRO stage not 0-3,
            an optimizer/scheduler section, fp16 on CPU).
    """
    path = Path(cfg.deepspeed.config)
    where = f"deepspeed.config ({path})"
    try:
        ds = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{where}: file not found") from None
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{where}:{exc.lineno}: not valid JSON ({exc.msg})") from None
    zero = ds.setdefault("zero_optimization", {})
    if cfg.deepspeed.zero_stage is not None:
        zero["stage"] = cfg.deepspeed.zero_stage
    stage = zero.get("stage", 0)
    if stage not in (0, 1, 2, 3):
        raise ConfigError(f"{where}: zero_optimization.stage: {stage!r} is not a ZeRO stage (0, 1, 2 or 3)")
    for section in _REFUSED_SECTIONS:
        if section in ds:
            raise ConfigError(f"{where}: {section}: remove it; the optimizer and schedule come from train.*")
    if ds.get("fp16", {}).get("enabled") is True and not cfg.scaling.use_gpu:
        raise ConfigError(f"{where}: fp16.enabled: fp16 is not supported on CPU; use train.precision=fp32")
    return ds


def zero_stage(ds: dict[str, Any]) -> int:
    """The ZeRO stage of a DeepSpeed config dict."""
    return int(ds.get("zero_optimization", {}).get("stage", 0))


def fill_deepspeed_config(ds: dict[str, Any], cfg: TrainConfig, world_size: int, bf16: bool) -> dict[str, Any]:
    """A copy of `ds` with every "auto" value set from `cfg` (batch sizes, accumulation, clipping, bf16)."""
    out = json.loads(json.dumps(ds))
    filled = {
        "train_micro_batch_size_per_gpu": cfg.train.micro_batch_size,
        "gradient_accumulation_steps": cfg.train.grad_accum,
        "train_batch_size": cfg.train.micro_batch_size * cfg.train.grad_accum * world_size,
        "gradient_clipping": cfg.train.max_grad_norm,
    }
    for key, value in filled.items():
        if out.get(key, "auto") == "auto":
            out[key] = value
    out.setdefault("bf16", {})
    if out["bf16"].get("enabled", "auto") == "auto":
        out["bf16"]["enabled"] = bf16
    return out
