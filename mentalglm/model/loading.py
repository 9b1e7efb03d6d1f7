"""Load the base causal LM and its tokenizer from `model.name_or_path` (a local folder or a hub id)."""

from __future__ import annotations

import logging
from pathlib import Path

from mentalglm.config.schema import ModelConfig
from mentalglm.errors import ModelLoadError

log = logging.getLogger(__name__)


def check_model_path(name_or_path: str, marker: str = "config.json") -> None:
    """Fail early, naming `model.name_or_path`, when a local path holds no model (no `marker` file).

    Hub ids (not existing paths, not starting with . / ~) pass through to transformers.

    Raises:
        ModelLoadError: the local folder lacks `marker`.
    """
    looks_local = name_or_path.startswith((".", "/", "~")) or Path(name_or_path).exists()
    if looks_local and not (Path(name_or_path).expanduser() / marker).exists():
        raise ModelLoadError(f"model.name_or_path: {name_or_path} is not a model folder (no {marker}); "
                             "create one with `mentalglm model init configs/model/tiny.yaml`")


def load_tokenizer(cfg: ModelConfig, local_only: bool = False):
    """The tokenizer of `cfg`, left-padding (for batched generation).

    Args:
        cfg: the model section.
        local_only: never download: a hub id loads only from the local cache.

    Raises:
        ModelLoadError: naming `model.name_or_path`.
    """
    from transformers import AutoTokenizer

    check_model_path(cfg.name_or_path, "tokenizer_config.json")
    try:
        tokenizer = AutoTokenizer.from_pretrained(cfg.name_or_path, trust_remote_code=cfg.trust_remote_code,
                                                  local_files_only=local_only)
    except (OSError, ValueError) as exc:
        raise ModelLoadError(f"model.name_or_path: cannot load tokenizer from {cfg.name_or_path} ({exc})") from None
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    tokenizer.padding_side = "left"
    tokenizer.mentalglm_system_prompt = cfg.system_prompt  # what every prompt encoder of it puts first
    return tokenizer


def resolve_dtype(name: str):
    """torch dtype for a config dtype name; `auto` is bfloat16 on a bf16-capable GPU, else float32."""
    import torch

    if name == "auto":
        return torch.bfloat16 if torch.cuda.is_available() and torch.cuda.is_bf16_supported() else torch.float32
    return getattr(torch, name)


def load_model(cfg: ModelConfig, dtype=None):
    """The causal LM of `cfg` in `dtype` (default: `cfg.dtype`).

    Raises:
        ModelLoadError: naming `model.name_or_path`.
    """
    from transformers import AutoModelForCausalLM

    check_model_path(cfg.name_or_path)
    try:
        return AutoModelForCausalLM.from_pretrained(cfg.name_or_path, trust_remote_code=cfg.trust_remote_code,
                                                    dtype=dtype or resolve_dtype(cfg.dtype))
    except (OSError, ValueError) as exc:
        raise ModelLoadError(f"model.name_or_path: cannot load model from {cfg.name_or_path} ({exc})") from None


def warn_if_system_prompt_differs(adapter: Path, system_prompt: str | None) -> bool:
    """Log a warning (and return True) when the adapter's run config (`config.yaml` beside it) trained with another
    `model.system_prompt` than this one: its answers were learnt after a different prompt."""
    import yaml

    try:
        trained = (yaml.safe_load((adapter / "config.yaml").read_text(encoding="utf-8")) or {}).get("model", {})
    except (OSError, yaml.YAMLError, AttributeError):
        return False  # an adapter from elsewhere records no prompt
    if not isinstance(trained, dict) or trained.get("system_prompt") == system_prompt:
        return False
    log.warning("model.system_prompt is %r here, but the adapter %s was trained with %r: its answers were learnt "
                "after a different prompt", system_prompt, adapter, trained.get("system_prompt"))
    return True
