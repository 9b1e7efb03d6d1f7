"""The per-worker training loop run by Ray Train: PEFT LoRA inside a DeepSpeed engine.

Each rank reads its own shard of length-grouped batches. Every `train.checkpoint_every` optimizer steps, and at
each epoch end, all ranks evaluate val loss together, save their share of a checkpoint and report it. Dropout
randomness is re-seeded from (seed, rank, epoch, micro-batch), so a resumed run replays exactly.
"""

from __future__ import annotations

import logging
import math
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from mentalglm.config.train import TrainConfig
from mentalglm.data.batching import collate, length_grouped_batches, shard_batches
from mentalglm.data.records import load_split
from mentalglm.data.tokenization import IGNORE_INDEX, EncodedExample, encode_records
from mentalglm.publish import resolve_adapter
from mentalglm.train.checkpointing import TrainerState, load_checkpoint, save_checkpoint
from mentalglm.train.deepspeed_config import fill_deepspeed_config, zero_stage
from mentalglm.train.val_f1 import evenly_spaced, val_f1, val_subset

log = logging.getLogger(__name__)
LOG_LEVEL_ENV = "MENTALGLM_LOG_LEVEL"  # the CLI's --log-level, passed on to Ray workers
PROBE_SIZE = 2
PROBE_TOKENS = 24
_ZERO3_LOAD_CONFIG: Any = None  # kept alive for the worker's life: transformers only holds a weak reference


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
        # Under ZeRO-3, transformers builds the model inside deepspeed.zero.Init while this object is alive, so
        # each rank holds only its partition of the frozen base weights (GLM-4-9B: ~18 GB / world size in bf16,
        # instead of the whole model per rank).
        from transformers.integrations import HfDeepSpeedConfig

        global _ZERO3_LOAD_CONFIG
        _ZERO3_LOAD_CONFIG = HfDeepSpeedConfig(ds_config)
    model = load_model(cfg.model, dtype=torch.bfloat16 if bf16 else torch.float32)
    if cfg.train.gradient_checkpointing:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
        model.enable_input_require_grads()
    torch.manual_seed(cfg.run.seed)  # identical fresh LoRA weights on every rank
    init = resolve_adapter(cfg.train.init_adapter) if cfg.train.init_adapter else None
    return tokenizer, attach_lora(model, cfg.lora, init)


def _disable_cpu_shm_comm() -> None:
    # DeepSpeed JIT-compiles a shared-memory all-reduce (~70 s) the first time it wraps a CPU process group.
    # It only serves inference all-reduce, never training, so mark it unavailable before DeepSpeed starts.
    import deepspeed.ops

    deepspeed.ops.__compatible_ops__["deepspeed_shm_comm"] = False


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
    """Ray Train worker entry: train, evaluate, checkpoint and report until done (or `stop_after_step`)."""
    import ray.train
    import torch
    from ray.train.torch import get_device

    _worker_logging()

    cfg = TrainConfig.model_validate(loop_config["cfg"])
    ctx = ray.train.get_context()
    rank, world = ctx.get_world_rank(), ctx.get_world_size()
    device = get_device()
    torch.set_num_threads(cfg.scaling.cpus_per_worker)
    bf16 = cfg.train.precision == "bf16" or (
        cfg.train.precision == "auto" and device.type == "cuda" and torch.cuda.is_bf16_supported())
    if device.type == "cpu":
        _disable_cpu_shm_comm()
    import deepspeed

    # Wrap Ray's process group in DeepSpeed's comm layer now: ZeRO-3 model loading reads the world size from it.
    deepspeed.init_distributed(dist_backend="nccl" if device.type == "cuda" else "gloo")
    ds_config = fill_deepspeed_config(loop_config["deepspeed"], cfg, world, bf16)
    tokenizer, model = _setup_model(cfg, bf16, ds_config)
    tok = cfg.tokenization
    train_ex = encode_records(load_split(cfg.data.dir, "train", cfg.data.tasks), tokenizer, tok.max_seq_len,
                              tok.min_post_chars)
    val_records = load_split(cfg.data.dir, cfg.data.val_split, cfg.data.tasks)
    val_ex = encode_records(evenly_spaced(val_records, cfg.train.val_subset), tokenizer, tok.max_seq_len,
                            tok.min_post_chars)
    f1_records = val_subset(val_records, cfg.train.generate_eval.subset)
    lengths = [len(e) for e in train_ex]
    log.debug("rank %d: %d train and %d val examples, longest %d tokens, %d posts shortened", rank, len(train_ex),
              len(val_ex), max(lengths, default=0), sum(e.post_truncated for e in train_ex))
    total = total_steps(len(train_ex), cfg, world)
    spe = steps_per_epoch(len(train_ex), cfg, world)
    if spe < 1:
        raise ValueError(f"{len(train_ex)} training examples give no optimizer step with "
                         f"{world} workers x micro_batch_size {cfg.train.micro_batch_size} x grad_accum "
                         f"{cfg.train.grad_accum}")

    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=cfg.train.lr, weight_decay=cfg.train.weight_decay)
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lr_lambda(total, cfg.train.warmup_ratio, cfg.train.schedule))
    engine, _, _, _ = deepspeed.initialize(model=model, optimizer=optimizer, lr_scheduler=scheduler,
                                           config=ds_config, dist_init_required=False)
    zero3 = zero_stage(ds_config) == 3

    pad_id = tokenizer.pad_token_id
    state, resumed_from = TrainerState(fingerprint=loop_config["fingerprint"]), None
    checkpoint = ray.train.get_checkpoint()
    if checkpoint:
        with checkpoint.as_directory() as ckpt_dir:
            state = load_checkpoint(engine, Path(ckpt_dir))
        if state.fingerprint not in (None, loop_config["fingerprint"]) and cfg.run.on_config_change == "error":
            raise RuntimeError(f"checkpoint at step {state.global_step} was trained with other settings "
                               f"(fingerprint {state.fingerprint[:12]}, this run {loop_config['fingerprint'][:12]})")
        resumed_from = state.global_step
        if state.global_step >= total:  # a finished run rerun under the same name: nothing left to train
            ray.train.report(state.metrics)
            return
        state.done = False  # e.g. more epochs asked for than the earlier run had
    else:
        # Val loss of the starting point (the base model: LoRA's B matrices start at zero).
        state.initial_val_loss = evaluate_loss(engine, val_ex, cfg.train.eval_batch_size, pad_id, rank, world,
                                               device)
    window = {"loss": torch.zeros(2, dtype=torch.float64, device=device), "tokens": 0, "steps": 0,
              "start": time.perf_counter()}

    def report(done: bool) -> None:
        import torch.distributed as dist

        elapsed = time.perf_counter() - window["start"]
        stats = torch.cat([window["loss"], torch.tensor([float(window["tokens"])], dtype=torch.float64,
                                                         device=device)])
        if world > 1:
            dist.all_reduce(stats)
        val_loss = evaluate_loss(engine, val_ex, cfg.train.eval_batch_size, pad_id, rank, world, device)
        metrics = {
            "step": state.global_step, "epoch": state.epoch + state.step_in_epoch / max(1, spe),
            "train_loss": (stats[0] / stats[1].clamp(min=1)).item(), "val_loss": val_loss,
            "tokens_per_s": stats[2].item() / max(elapsed, 1e-9),
            "step_time_s": elapsed / max(1, window["steps"]), "lr": scheduler.get_last_lr()[0],
            "total_steps": total, "finished": done, "initial_val_loss": state.initial_val_loss,
        }
        if resumed_from is not None:
            metrics["resumed_from_step"] = resumed_from
        if cfg.train.generate_eval.enabled:
            ge = cfg.train.generate_eval
            metrics.update(val_f1(engine, tokenizer, f1_records, rank, world, ge.batch_size, ge.max_new_tokens,
                                  zero3))
        state.metrics, state.done = metrics, done
        probe = _probe(engine, tokenizer, device)
        with tempfile.TemporaryDirectory(prefix=f"mentalglm-ckpt-r{rank}-") as tmp:
            save_checkpoint(engine, Path(tmp), state, tokenizer, rank, zero3, probe)
            ray.train.report(metrics, checkpoint=ray.train.Checkpoint.from_directory(tmp),
                             checkpoint_dir_name=f"checkpoint_step{state.global_step:07d}")
        window.update(loss=torch.zeros_like(window["loss"]), tokens=0, steps=0, start=time.perf_counter())

    engine.train()
    while state.global_step < total and not state.done:
        batches = _epoch_batches(lengths, cfg, state.epoch, rank, world)
        for i in range(state.step_in_epoch * cfg.train.grad_accum, len(batches)):
            torch.manual_seed(hash((cfg.run.seed, rank, state.epoch, i)) % (2**31))
            batch = _to(collate([train_ex[j] for j in batches[i]], pad_id), device)
            boundary = engine.is_gradient_accumulation_boundary()
            loss_sum, n = _loss_sum(engine, batch)
            engine.backward(loss_sum / n.clamp(min=1))
            engine.step()
            window["loss"] += torch.stack([loss_sum.detach().double(), n.double()])
            window["tokens"] += int(batch["attention_mask"].sum())
            if not boundary:
                continue
            state.global_step += 1
            state.step_in_epoch += 1
            window["steps"] += 1
            finished = state.global_step >= total
            epoch_end = state.step_in_epoch >= spe
            if epoch_end:
                state.epoch, state.step_in_epoch = state.epoch + 1, 0
            stop_here = cfg.train.stop_after_step is not None and state.global_step >= cfg.train.stop_after_step
            at_epoch_end = epoch_end and cfg.train.checkpoint_at_epoch_end
            if finished or at_epoch_end or stop_here or state.global_step % cfg.train.checkpoint_every == 0:
                report(done=finished)
            if finished or stop_here:
                return
            if epoch_end:
                break
