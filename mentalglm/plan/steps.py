"""Step counting, the same for the plan and every training rank: optimizer steps per epoch and per run, and the
learning-rate multiplier at each step."""

from __future__ import annotations

import math

from mentalglm.config.train import TrainConfig


def lr_lambda(total_steps: int, warmup_ratio: float, schedule: str):
    """Multiplier of the base lr at each optimizer step: linear warmup, then cosine/linear decay or constant."""
    warmup = int(total_steps * warmup_ratio)

    def factor(step: int) -> float:
        if warmup and step < warmup:
            return (step + 1) / warmup
        if schedule == "constant":
            return 1.0
        progress = min(1.0, (step - warmup) / max(1, total_steps - warmup))
        return 0.5 * (1 + math.cos(math.pi * progress)) if schedule == "cosine" else 1.0 - progress

    return factor


def steps_per_epoch(n_examples: int, cfg: TrainConfig, world_size: int) -> int:
    """Optimizer steps in one epoch, the same on every rank."""
    batches = math.ceil(n_examples / cfg.train.micro_batch_size)
    return (batches // world_size) // cfg.train.grad_accum


def total_steps(n_examples: int, cfg: TrainConfig, world_size: int) -> int:
    """Optimizer steps of the whole run (`train.max_steps` if set, else epochs x steps per epoch)."""
    return cfg.train.max_steps or cfg.train.epochs * steps_per_epoch(n_examples, cfg, world_size)
