"""`mentalglm plan CONFIG`: memory per GPU, FLOPs and wall time of a train (or tune) config, before any GPU
is rented; and the memory check `train` and `tune` run before any worker starts.

Formulas and their sources: `mentalglm.plan.memory` (ZeRO model states, activations) and
`mentalglm.plan.compute` (model FLOPs).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from typing import Any

from mentalglm.config import ConfigError
from mentalglm.config.train import TrainConfig, checkpointing_kind
from mentalglm.plan.compute import (DataTokens, data_tokens, epoch_model_flops, model_flops_per_token,
                                    recompute_flops_per_token)
from mentalglm.plan.hardware import GIB, Gpu, worker_gpu
from mentalglm.plan.memory import MemoryPlan, ZeroSettings, memory_plan
from mentalglm.plan.shape import ModelShape, model_shape
from mentalglm.plan.steps import steps_per_epoch, total_steps

log = logging.getLogger(__name__)
PROMPT_OVERHEAD_TOKENS = 8  # [gMASK]<sop><|user|>\n … <|assistant|>\n and the end token around each example


@dataclass(frozen=True)
class Settings:
    """The memory-relevant settings of a run (what the fit check varies to find what would fit)."""

    world: int
    zero: ZeroSettings
    bf16: bool
    micro_batch: int
    seq_len: int
    checkpointing: str | None
    lora_dropout: bool

    def memory(self, shape: ModelShape) -> MemoryPlan:
        return memory_plan(shape, self.zero, self.world, self.bf16, self.micro_batch, self.seq_len,
                           self.checkpointing is not None, self.lora_dropout)


@dataclass
class Plan:
    """Everything `format_plan` prints and `check_fits` decides on."""

    name: str
    cfg: TrainConfig
    shape: ModelShape
    settings: Settings
    memory: MemoryPlan
    gpu: Gpu | None
    gpu_source: str
    data: DataTokens | None
    data_note: str
    steps_per_epoch: int | None = None
    total_steps: int | None = None
    run_model_flops: float | None = None

    @property
    def usable_bytes(self) -> float | None:
        if self.gpu is None or not self.cfg.scaling.use_gpu:
            return None
        return self.gpu.memory_bytes - self.cfg.plan.reserve_gib * GIB

    @property
    def fits(self) -> bool | None:
        usable = self.usable_bytes
        return None if usable is None else self.memory.total <= usable

    def step_tokens(self) -> int:
        s = self.settings
        return s.micro_batch * s.seq_len * self.cfg.train.grad_accum * s.world

    def step_flops(self) -> tuple[float, float]:
        """(model FLOPs, recompute FLOPs) of one optimizer step at micro_batch_size x max_seq_len."""
        tokens, seq = self.step_tokens(), self.settings.seq_len
        recompute = recompute_flops_per_token(self.shape, seq) * tokens if self.settings.checkpointing else 0.0
        return model_flops_per_token(self.shape, seq) * tokens, recompute

    def seconds(self, flops: float) -> float | None:
        """Wall time of `flops` model FLOPs at `plan.mfu` on all workers' GPUs (None without a known GPU)."""
        if self.gpu is None or not self.gpu.bf16_tflops or not self.cfg.scaling.use_gpu:
            return None
        return flops / (self.cfg.plan.mfu * self.gpu.bf16_tflops * 1e12 * self.settings.world)


def _bf16(cfg: TrainConfig, gpu: Gpu | None) -> bool:
    if cfg.train.precision != "auto":
        return cfg.train.precision == "bf16"
    return cfg.scaling.use_gpu and (gpu is None or gpu.bf16_tflops is not None)


def _tokenizer(cfg: TrainConfig) -> Any | None:
    """The model's tokenizer when it is on this machine (a folder or the local cache), else None."""
    from mentalglm.model.loading import ModelLoadError, load_tokenizer

    try:
        return load_tokenizer(cfg.model, local_only=True)
    except ModelLoadError:
        return None


def count_data(cfg: TrainConfig) -> tuple[DataTokens | None, str]:
    """Token counts of the config's training split: exact with the model's tokenizer when it is available
    locally (the same cached encoding training uses), else estimated from characters at
    `plan.chars_per_token`; (None, why) when the data is not built where the config says."""
    from mentalglm.errors import DataError
    from mentalglm.data.split_records import split_records

    tok = cfg.tokenization
    try:
        records = split_records(cfg.data.dir, "train").only(cfg.data.tasks)
    except DataError:
        return None, f"data.dir {cfg.data.dir} is not built here: build it to plan steps and run time"
    tokenizer = _tokenizer(cfg)
    if tokenizer is not None:
        from mentalglm.data.encoded import encoded_split

        encoded = encoded_split(cfg.data.dir, "train", cfg.data.tasks, tokenizer, tok.max_seq_len,
                                tok.min_post_chars)
        return data_tokens(list(encoded.lengths), "counted with the model's tokenizer"), ""
    per = cfg.plan.chars_per_token
    lengths = [min(tok.max_seq_len, round((len(r.instruction) + len(r.response)) / per) + PROMPT_OVERHEAD_TOKENS)
               for r in records]
    return data_tokens(lengths, f"estimated at {per:g} characters per token (the tokenizer of "
                                f"{cfg.model.name_or_path} is not available locally)"), ""


def make_plan(cfg: TrainConfig, ds: dict[str, Any], name: str | None = None, with_data: bool = True) -> Plan:
    """The plan of one run of `cfg` with DeepSpeed config `ds` (as `read_deepspeed_config` returns it).

    Raises:
        ConfigError: the model config cannot be read, a LoRA target is not in the model, an unknown GPU type.
    """
    zero = ZeroSettings.of(ds)
    shape = model_shape(cfg.model, cfg.lora, zero.persistence_threshold)
    gpu, source = worker_gpu(cfg.plan.gpu, cfg.ray.cluster,
                             cfg.scaling.accelerator_type if cfg.scaling.use_gpu else None)
    settings = Settings(cfg.scaling.num_workers, zero, _bf16(cfg, gpu), cfg.train.micro_batch_size,
                        cfg.tokenization.max_seq_len, checkpointing_kind(cfg.train.gradient_checkpointing),
                        cfg.lora.dropout > 0)
    plan = Plan(name or cfg.run.name, cfg, shape, settings, settings.memory(shape), gpu, source, None,
                "not counted (preflight)")
    if not with_data:
        return plan
    plan.data, plan.data_note = count_data(cfg)
    if plan.data is not None and plan.data.examples:
        world = settings.world
        plan.steps_per_epoch = steps_per_epoch(plan.data.examples, cfg, world)
        plan.total_steps = total_steps(plan.data.examples, cfg, world)
        used = plan.steps_per_epoch * cfg.train.micro_batch_size * cfg.train.grad_accum * world
        epochs = plan.total_steps / max(1, plan.steps_per_epoch)
        plan.run_model_flops = epochs * epoch_model_flops(shape, plan.data, min(1.0, used / plan.data.examples))
    return plan


def _what_would_fit(plan: Plan) -> list[str]:
    """Single changes of the settings, each with the total it gives; those that fit first."""
    s, usable = plan.settings, plan.usable_bytes
    tries: list[tuple[str, Settings]] = []
    if s.checkpointing is None:
        tries.append(("train.gradient_checkpointing=true", replace(s, checkpointing="non_reentrant")))
    batch = s.micro_batch // 2
    while batch >= 1:
        tries.append((f"train.micro_batch_size={batch} (grad_accum x{s.micro_batch // batch} keeps the batch)",
                      replace(s, micro_batch=batch)))
        batch //= 2
    if s.zero.stage < 3:
        tries.append(("deepspeed.zero_stage=3", replace(s, zero=replace(s.zero, stage=3))))
    if not s.zero.offload_optimizer or (s.zero.stage == 3 and not s.zero.offload_param):
        offload = replace(s.zero, stage=3, offload_optimizer=True, offload_param=True)
        tries.append(("deepspeed.config=configs/deepspeed/zero3-offload.json (weights and optimizer in CPU memory)",
                      replace(s, zero=offload)))
    if s.seq_len >= 128:
        tries.append((f"tokenization.max_seq_len={s.seq_len // 2}", replace(s, seq_len=s.seq_len // 2)))
    lines = []
    for label, changed in tries:
        total = changed.memory(plan.shape).total
        lines.append((total > usable, total, f"{label}: {total / GIB:.1f} GiB"))
    fitting = [text for over, _, text in sorted(lines) if not over]
    return fitting or [text + " (still too much)" for _, _, text in sorted(lines)[:3]]


def check_fits(plan: Plan) -> None:
    """Refuse a GPU run whose planned memory per GPU exceeds the GPU's less `plan.reserve_gib`.

    Raises:
        ConfigError: with the planned terms, the GPU and the single setting changes that would fit.
    """
    if not plan.cfg.plan.check or plan.fits is not False:
        return
    m, s = plan.memory, plan.settings
    biggest = ", ".join(f"{k} {v / GIB:.1f}" for k, v in sorted(m.terms.items(), key=lambda kv: -kv[1])[:3])
    raise ConfigError(
        f"plan ({plan.name}): {m.total / GIB:.1f} GiB per GPU ({biggest} GiB; ZeRO-{s.zero.stage}, "
        f"micro_batch_size {s.micro_batch} x max_seq_len {s.seq_len}, checkpointing "
        f"{s.checkpointing or 'off'}) exceeds {plan.gpu.name}'s {plan.gpu.memory_gib:g} GiB less plan.reserve_gib "
        f"{plan.cfg.plan.reserve_gib:g} ({plan.gpu_source}). Would fit: " + "; ".join(_what_would_fit(plan))
        + ". (`mentalglm plan CONFIG` prints the whole plan; plan.check=false skips this check.)")


def preflight_plan(cfg: TrainConfig, ds: dict[str, Any]) -> Plan:
    """The memory part of the plan, checked: what `train` runs before any worker starts.

    Raises:
        ConfigError: see `check_fits`.
    """
    plan = make_plan(cfg, ds, with_data=False)
    check_fits(plan)
    if plan.fits is not None:
        log.info("plan: %.1f GiB per GPU of %s's %g GiB", plan.memory.total / GIB, plan.gpu.name,
                 plan.gpu.memory_gib)
    return plan
