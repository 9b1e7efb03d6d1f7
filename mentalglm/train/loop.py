"""The Ray Train worker entry point and the pieces the training recipe (`mentalglm.train.recipe`) is made of:
the lr schedule, step counts, per-rank batches, loss sums, val loss across ranks, the checkpoint probe, and the
model with its LoRA adapter."""

from __future__ import annotations

import logging
import math
import os
import sys
from typing import Any

from mentalglm.config.train import TrainConfig, checkpointing_kind
from mentalglm.data.batching import collate, length_grouped_batches, shard_batches
from mentalglm.data.tokenization import IGNORE_INDEX, EncodedExample
from mentalglm.publish import resolve_adapter
from mentalglm.train.compat import enable_activation_checkpointing, load_partitioned_under_zero3
from mentalglm.train.deepspeed_config import zero_stage

log = logging.getLogger(__name__)
LOG_LEVEL_ENV = "MENTALGLM_LOG_LEVEL"  # the CLI's --log-level, passed on to Ray workers
PROBE_SIZE = 2
PROBE_TOKENS = 24


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


def _epoch_batches(lengths: list[int], cfg: TrainConfig, epoch: int, rank: int, world: int) -> list[list[int]]:
    batches = length_grouped_batches(lengths, cfg.train.micro_batch_size, cfg.run.seed, epoch)
    mine = shard_batches(batches, rank, world)
    return mine[: len(mine) - len(mine) % cfg.train.grad_accum]


def _to(batch: dict, device: Any) -> dict:
    return {k: v.to(device) for k, v in batch.items()}


def _loss_sum(engine: Any, batch: dict) -> tuple[Any, Any]:
    """(sum of token losses, number of loss tokens) of a batch; HF returns their mean."""
    out = engine(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"], labels=batch["labels"])
    n = (batch["labels"][:, 1:] != IGNORE_INDEX).sum()
    return out.loss.float() * n, n


def evaluate_loss(engine: Any, examples: list[EncodedExample], batch_size: int, pad_id: int,
                  rank: int, world: int, device: Any) -> float:
    """Token-weighted mean loss over all of `examples`, split across ranks.

    Every rank runs the same number of forward passes (ZeRO-3 gathers weights collectively); a rank out of
    batches runs its first batch again with weight zero.
    """
    import torch
    import torch.distributed as dist

    batches = [examples[i:i + batch_size] for i in range(0, len(examples), batch_size)]
    rounds = math.ceil(len(batches) / world)
    totals = torch.zeros(2, dtype=torch.float64, device=device)
    engine.eval()
    with torch.no_grad():
        for r in range(rounds):
            idx = r * world + rank
            weight = 1.0 if idx < len(batches) else 0.0
            loss_sum, n = _loss_sum(engine, _to(collate(batches[min(idx, len(batches) - 1)], pad_id), device))
            totals += torch.stack([loss_sum.double(), n.double()]) * weight
    engine.train()
    if world > 1:
        dist.all_reduce(totals)
    return (totals[0] / totals[1].clamp(min=1)).item()


def _probe(engine: Any, tokenizer: Any, device: Any) -> dict[str, Any]:
    """Logits of a fixed batch of synthetic token ids (never a real post: checkpoints must not hold post text)."""
    import torch

    special = set(tokenizer.all_special_ids)
    ordinary = torch.tensor([i for i in range(len(tokenizer)) if i not in special])
    generator = torch.Generator().manual_seed(0)
    input_ids = ordinary[torch.randint(len(ordinary), (PROBE_SIZE, PROBE_TOKENS), generator=generator)]
    attention_mask = torch.ones_like(input_ids)
    engine.eval()
    with torch.no_grad():
        logits = engine(input_ids=input_ids.to(device), attention_mask=attention_mask.to(device)).logits.float().cpu()
    engine.train()
    return {"input_ids": input_ids, "attention_mask": attention_mask, "logits": logits}


def _setup_model(cfg: TrainConfig, bf16: bool, ds_config: dict[str, Any]):
    import torch

    from mentalglm.model.loading import load_model, load_tokenizer
    from mentalglm.train.lora import attach_lora

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


def _worker_logging() -> None:
    # A Ray worker has no handler for the library's loggers; with MENTALGLM_LOG_LEVEL set (the CLI sets it from
    # --log-level), they write to the worker's stderr log at that level.
    level = os.environ.get(LOG_LEVEL_ENV)
    logger = logging.getLogger("mentalglm")
    if level and not logger.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        logger.addHandler(handler)
        logger.setLevel(level.upper())


def train_loop_per_worker(loop_config: dict[str, Any]) -> None:
    """Ray Train worker entry: run the LoRA recipe (`mentalglm.train.recipe`) until done or `stop_after_step`."""
    from mentalglm.train.recipe import LoraRecipe

    _worker_logging()
    LoraRecipe(loop_config).run()
