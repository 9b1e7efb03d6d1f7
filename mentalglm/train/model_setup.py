"""The model one training worker trains: the base model, its tokenizer and the LoRA adapter on it."""

from __future__ import annotations

from typing import Any

from mentalglm.config.deepspeed import zero_stage
from mentalglm.config.train import TrainConfig, checkpointing_kind
from mentalglm.model.loading import load_model, load_tokenizer
from mentalglm.runs.publish import resolve_adapter
from mentalglm.train.compat import enable_activation_checkpointing, load_partitioned_under_zero3
from mentalglm.train.lora import attach_lora


def setup_model(cfg: TrainConfig, bf16: bool, ds_config: dict[str, Any]) -> tuple[Any, Any]:
    """(tokenizer, base model with its LoRA adapter) of one training worker: bf16 or fp32, partitioned at load under
    ZeRO-3, activation checkpointing per `train.gradient_checkpointing`, the adapter fresh (seeded alike on every
    rank) or resumed from `train.init_adapter`."""
    import torch

    tokenizer = load_tokenizer(cfg.model)
    if zero_stage(ds_config) == 3:
        load_partitioned_under_zero3(ds_config)
    model = load_model(cfg.model, dtype=torch.bfloat16 if bf16 else torch.float32)
    kind = checkpointing_kind(cfg.train.gradient_checkpointing)
    if kind:
        enable_activation_checkpointing(model, reentrant=kind == "reentrant")
        # Reentrant checkpointing only backpropagates into a layer whose input requires grad; the embedding is
        # frozen under LoRA, so its output is marked (harmless for the non-reentrant kind).
        model.enable_input_require_grads()
    torch.manual_seed(cfg.run.seed)  # identical fresh LoRA weights on every rank
    init = resolve_adapter(cfg.train.init_adapter) if cfg.train.init_adapter else None
    return tokenizer, attach_lora(model, cfg.lora, init)
