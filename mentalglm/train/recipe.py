"""The training recipe: the Ray Train worker entry (`train_loop_per_worker`) and one worker's LoRA run in named
steps: `setup` (model, data, DeepSpeed engine, restore), then `train_epoch` until done, each report point doing
`evaluate` and `save_and_report`.

Each rank reads its own shard of length-grouped batches. Every `train.checkpoint_every` optimizer steps (and at
each epoch end unless `train.checkpoint_at_epoch_end` is off), all ranks evaluate val loss together, save their
share of a checkpoint and report it. Dropout randomness is re-seeded from (seed, rank, epoch, micro-batch), so a
resumed run replays exactly.
"""

from __future__ import annotations

import logging
import math
import os
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mentalglm.config.train import TrainConfig
from mentalglm.data.batching import collate, length_grouped_batches, shard_batches
from mentalglm.data.split_records import split_records
from mentalglm.data.encoded import encoded_split
from mentalglm.data.tokenization import IGNORE_INDEX, EncodedExample, encode_records
from mentalglm.train.checkpointing import TrainerState, load_checkpoint, probe_logits, save_checkpoint
from mentalglm.train.compat import disable_deepspeed_cpu_shm_comm
from mentalglm.config.deepspeed import fill_deepspeed_config, zero_stage
from mentalglm.plan.steps import lr_lambda, steps_per_epoch, total_steps
from mentalglm.train.model_setup import setup_model
from mentalglm.train.val_f1 import val_f1, val_subset

log = logging.getLogger(__name__)
LOG_LEVEL_ENV = "MENTALGLM_LOG_LEVEL"  # the CLI's --log-level, passed on to Ray workers


def epoch_batches(lengths: list[int], cfg: TrainConfig, epoch: int, rank: int, world: int) -> list[list[int]]:
    """This rank's micro-batches (example indices) of `epoch`: length-grouped, sharded, cut to whole accumulations."""
    batches = length_grouped_batches(lengths, cfg.train.micro_batch_size, cfg.run.seed, epoch)
    mine = shard_batches(batches, rank, world)
    return mine[: len(mine) - len(mine) % cfg.train.grad_accum]


def to_device(batch: dict, device: Any) -> dict:
    """The batch's tensors on `device`."""
    return {k: v.to(device) for k, v in batch.items()}


def loss_sum(engine: Any, batch: dict) -> tuple[Any, Any]:
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
            total, n = loss_sum(engine, to_device(collate(batches[min(idx, len(batches) - 1)], pad_id), device))
            totals += torch.stack([total.double(), n.double()]) * weight
    engine.train()
    if world > 1:
        dist.all_reduce(totals)
    return (totals[0] / totals[1].clamp(min=1)).item()


@dataclass
class _Window:
    """Training statistics since the last report: [summed loss, loss tokens] (a float64 tensor on the device, so
    no step waits for the GPU), tokens seen, optimizer steps, start time."""

    loss: Any
    tokens: int = 0
    steps: int = 0
    start: float = field(default_factory=time.perf_counter)

    @classmethod
    def on(cls, device: Any) -> "_Window":
        import torch

        return cls(torch.zeros(2, dtype=torch.float64, device=device))


class LoraRecipe:
    """The training run of one Ray Train worker (see the module docstring)."""

    def __init__(self, loop_config: dict[str, Any]):
        import ray.train
        import torch
        from ray.train.torch import get_device

        self.cfg = TrainConfig.model_validate(loop_config["cfg"])
        self.raw_deepspeed = loop_config["deepspeed"]
        self.fingerprint = loop_config["fingerprint"]
        ctx = ray.train.get_context()
        self.rank, self.world = ctx.get_world_rank(), ctx.get_world_size()
        self.device = get_device()
        torch.set_num_threads(self.cfg.scaling.cpus_per_worker)
        self.resumed_from: int | None = None
        self.window = _Window.on(self.device)

    # ------------------------------------------------------------------ steps
    def setup(self) -> bool:
        """Build model, data and engine, and restore the latest checkpoint; False when nothing is left to train."""
        import deepspeed
        import ray.train
        import torch

        cfg, device = self.cfg, self.device
        bf16 = cfg.train.precision == "bf16" or (
            cfg.train.precision == "auto" and device.type == "cuda" and torch.cuda.is_bf16_supported())
        if device.type == "cpu":
            disable_deepspeed_cpu_shm_comm()
        # Wrap Ray's process group in DeepSpeed's comm layer now: ZeRO-3 model loading reads the world size from it.
        deepspeed.init_distributed(dist_backend="nccl" if device.type == "cuda" else "gloo")
        ds_config = fill_deepspeed_config(self.raw_deepspeed, cfg, self.world, bf16)
        self.tokenizer, model = setup_model(cfg, bf16, ds_config)
        self._load_data()
        params = [p for p in model.parameters() if p.requires_grad]
        optimizer = torch.optim.AdamW(params, lr=cfg.train.lr, weight_decay=cfg.train.weight_decay)
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(
            optimizer, lr_lambda(self.total, cfg.train.warmup_ratio, cfg.train.schedule))
        self.engine, _, _, _ = deepspeed.initialize(model=model, optimizer=optimizer, lr_scheduler=self.scheduler,
                                                    config=ds_config, dist_init_required=False)
        self.zero3 = zero_stage(ds_config) == 3
        self.state = TrainerState(fingerprint=self.fingerprint)
        checkpoint = ray.train.get_checkpoint()
        if not checkpoint:
            # Val loss of the starting point (the base model: LoRA's B matrices start at zero).
            self.state.initial_val_loss = self._val_loss()
            return True
        with checkpoint.as_directory() as ckpt_dir:
            self.state = load_checkpoint(self.engine, Path(ckpt_dir))
        if self.state.fingerprint not in (None, self.fingerprint) and cfg.run.on_config_change == "error":
            raise RuntimeError(f"checkpoint at step {self.state.global_step} was trained with other settings "
                               f"(fingerprint {self.state.fingerprint[:12]}, this run {self.fingerprint[:12]})")
        self.resumed_from = self.state.global_step
        if self.state.global_step >= self.total:  # a finished run rerun under the same name: nothing left
            ray.train.report(self.state.metrics)
            return False
        self.state.done = False  # e.g. more epochs asked for than the earlier run had
        return True

    def _load_data(self) -> None:
        cfg, tok = self.cfg, self.cfg.tokenization
        # memory-mapped Arrow, tokenised once per tokenizer and settings (mentalglm.data.encoded)
        self.train_ex = encoded_split(cfg.data.dir, "train", cfg.data.tasks, self.tokenizer, tok.max_seq_len,
                                      tok.min_post_chars)
        val_records = split_records(cfg.data.dir, cfg.data.val_split).only(cfg.data.tasks)
        self.val_ex = encode_records(val_records.evenly_spaced(cfg.train.val_subset), self.tokenizer,
                                     tok.max_seq_len, tok.min_post_chars)
        self.f1_records = val_subset(val_records, cfg.train.generate_eval.subset)
        self.lengths = self.train_ex.lengths
        log.debug("rank %d: %d train and %d val examples, longest %d tokens, %d posts shortened", self.rank,
                  len(self.train_ex), len(self.val_ex), max(self.lengths, default=0), self.train_ex.post_truncated)
        self.total = total_steps(len(self.train_ex), cfg, self.world)
        self.steps_per_epoch = steps_per_epoch(len(self.train_ex), cfg, self.world)
        if self.steps_per_epoch < 1:
            raise ValueError(f"{len(self.train_ex)} training examples give no optimizer step with {self.world} "
                             f"workers x micro_batch_size {cfg.train.micro_batch_size} x grad_accum "
                             f"{cfg.train.grad_accum}")

    def micro_step(self, indices: list[int]) -> tuple[Any, Any, int]:
        """One micro-batch of the training examples at `indices`: forward, backward and DeepSpeed's step (an
        optimizer step at the accumulation boundary). Returns (summed loss, target tokens, real tokens)."""
        batch = to_device(collate([self.train_ex[j] for j in indices], self.tokenizer.pad_token_id), self.device)
        total, n = loss_sum(self.engine, batch)
        self.engine.backward(total / n.clamp(min=1))
        self.engine.step()
        return total.detach(), n, int(batch["attention_mask"].sum())

    def train_epoch(self) -> bool:
        """Train from the current position to the end of the epoch (or of the run); report where due. Returns
        True when the run is over (finished, or stopped at `train.stop_after_step`)."""
        import torch

        cfg, state, engine = self.cfg, self.state, self.engine
        batches = epoch_batches(self.lengths, cfg, state.epoch, self.rank, self.world)
        for i in range(state.step_in_epoch * cfg.train.grad_accum, len(batches)):
            torch.manual_seed(hash((cfg.run.seed, self.rank, state.epoch, i)) % (2**31))
            boundary = engine.is_gradient_accumulation_boundary()
            total, n, tokens = self.micro_step(batches[i])
            self.window.loss += torch.stack([total.double(), n.double()])
            self.window.tokens += tokens
            if not boundary:
                continue
            state.global_step += 1
            state.step_in_epoch += 1
            self.window.steps += 1
            finished = state.global_step >= self.total
            epoch_end = state.step_in_epoch >= self.steps_per_epoch
            if epoch_end:
                state.epoch, state.step_in_epoch = state.epoch + 1, 0
            stop_here = cfg.train.stop_after_step is not None and state.global_step >= cfg.train.stop_after_step
            at_epoch_end = epoch_end and cfg.train.checkpoint_at_epoch_end
            if finished or at_epoch_end or stop_here or state.global_step % cfg.train.checkpoint_every == 0:
                self.save_and_report(self.evaluate(done=finished), done=finished)
            if finished or stop_here:
                return True
            if epoch_end:
                return False
        return False

    def evaluate(self, done: bool) -> dict[str, Any]:
        """The report's metrics: train loss and throughput over the window (summed across ranks), val loss, and
        val F1 when `train.generate_eval` is on."""
        import torch
        import torch.distributed as dist

        w, state = self.window, self.state
        elapsed = time.perf_counter() - w.start
        stats = torch.cat([w.loss, torch.tensor([float(w.tokens)], dtype=torch.float64, device=self.device)])
        if self.world > 1:
            dist.all_reduce(stats)
        metrics = {
            "step": state.global_step, "epoch": state.epoch + state.step_in_epoch / max(1, self.steps_per_epoch),
            "train_loss": (stats[0] / stats[1].clamp(min=1)).item(), "val_loss": self._val_loss(),
            "tokens_per_s": stats[2].item() / max(elapsed, 1e-9), "step_time_s": elapsed / max(1, w.steps),
            "lr": self.scheduler.get_last_lr()[0], "total_steps": self.total, "finished": done,
            "initial_val_loss": state.initial_val_loss,
        }
        if self.resumed_from is not None:
            metrics["resumed_from_step"] = self.resumed_from
        ge = self.cfg.train.generate_eval
        if ge.enabled:
            metrics.update(val_f1(self.engine, self.tokenizer, self.f1_records, self.rank, self.world,
                                  ge.batch_size, ge.max_new_tokens, self.zero3))
        return metrics

    def save_and_report(self, metrics: dict[str, Any], done: bool) -> None:
        """Save every rank's share of a checkpoint and report it with `metrics` to Ray Train."""
        import ray.train

        self.state.metrics, self.state.done = metrics, done
        probe = probe_logits(self.engine, self.tokenizer, self.device)
        with tempfile.TemporaryDirectory(prefix=f"mentalglm-ckpt-r{self.rank}-") as tmp:
            save_checkpoint(self.engine, Path(tmp), self.state, self.tokenizer, self.rank, self.zero3, probe)
            ray.train.report(metrics, checkpoint=ray.train.Checkpoint.from_directory(tmp),
                             checkpoint_dir_name=f"checkpoint_step{self.state.global_step:07d}")
        self.window = _Window.on(self.device)

    def run(self) -> None:
        """setup, then train epoch after epoch until the run is over."""
        if not self.setup():
            return
        self.engine.train()
        while self.state.global_step < self.total and not self.state.done:
            if self.train_epoch():
                return

    def _val_loss(self) -> float:
        return evaluate_loss(self.engine, self.val_ex, self.cfg.train.eval_batch_size, self.tokenizer.pad_token_id,
                             self.rank, self.world, self.device)


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
    _worker_logging()
    LoraRecipe(loop_config).run()
