"""Config of `mentalglm train`: Ray Train + DeepSpeed + LoRA fine-tuning (one or several stages)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from mentalglm.config.schema import RaySection, RunConfig, Strict  # noqa: F401 (RaySection: old import path)


class RunSection(Strict):
    """Where a run lives: `{storage_path}/{name}/`. Rerunning the same name with the same weight-determining
    settings resumes from its latest checkpoint (or returns at once when it finished); with other settings it is
    refused unless `on_config_change: resume`."""

    name: str = Field(pattern=r"^[A-Za-z0-9_.-]+$")
    storage_path: str = Field("runs", description="local folder, shared mount or object-store URI (s3://…); "
                              "multi-node runs need storage every node reaches")
    local_dir: Path = Field(Path("runs"), description="with a URI storage_path: where the driver keeps "
                            "metrics.jsonl and a copy of final/ (final/ is also uploaded beside the checkpoints)")
    seed: int = 0
    on_config_change: Literal["error", "resume"] = Field(
        "error", description="a rerun of this name whose model, data, tokenisation, LoRA or optimisation settings "
        "differ from the stored run: `error` refuses it naming the keys; `resume` continues the stored run with "
        "the new settings. To start over, choose a new name.")


class LoraSection(Strict):
    """LoRA adapter shape. `all-linear` targets every Linear layer of the loaded architecture but the LM head,
    resolved to its own names before anything starts (GLM-4: q_proj k_proj v_proj o_proj gate_up_proj down_proj;
    Qwen2 and Llama: q_proj k_proj v_proj o_proj gate_proj up_proj down_proj)."""

    r: int = Field(8, ge=1, le=1024)
    alpha: float = Field(16, gt=0)
    dropout: float = Field(0.05, ge=0, lt=1)
    target_modules: list[str] | Literal["all-linear"] = Field(
        "all-linear", min_length=1, description="leaf names of Linear layers, or all-linear: every one of the "
        "loaded model's but the LM head")


def checkpointing_kind(value: bool | str) -> str | None:
    """`train.gradient_checkpointing` as None (off), "non_reentrant" or "reentrant"."""
    if value is False:
        return None
    return "non_reentrant" if value is True else value


class GenerateEvalSection(Strict):
    """Generate answers for a fixed val subset at each report and report val F1 per task (slower reports).

    Adds `val_f1_<task>` (micro F1, high-risk F1, weighted F1) and `val_f1` (their mean) to the metrics, so
    `checkpoint.metric: val_f1` with `mode: max` keeps the best checkpoints by F1.
    """

    enabled: bool = False
    subset: int = Field(24, ge=1, description="val records, spread evenly over the split")
    max_new_tokens: int = Field(48, ge=1)
    batch_size: int = Field(8, ge=1)


class TrainSection(Strict):
    """The optimisation loop."""

    epochs: int = Field(1, ge=1)
    max_steps: int | None = Field(None, ge=1, description="optimizer steps in all; overrides epochs when set")
    micro_batch_size: int = Field(4, ge=1, description="examples per worker per forward pass")
    grad_accum: int = Field(1, ge=1)
    lr: float = Field(2e-4, gt=0)
    weight_decay: float = Field(0.0, ge=0)
    warmup_ratio: float = Field(0.05, ge=0, lt=1)
    schedule: Literal["cosine", "linear", "constant"] = "cosine"
    max_grad_norm: float = Field(1.0, ge=0)
    precision: Literal["auto", "bf16", "fp32"] = Field("auto", description="auto: bf16 on a bf16 GPU, else fp32")
    gradient_checkpointing: bool | Literal["non_reentrant", "reentrant"] = Field(
        False, description="recompute each decoder layer's activations in backward instead of keeping them: "
        "true or non_reentrant (PyTorch's recommended implementation), or reentrant; both are tested with ZeRO-3 "
        "and LoRA")
    checkpoint_every: int = Field(50, ge=1, description="optimizer steps between checkpoints (and reports)")
    checkpoint_at_epoch_end: bool = Field(True, description="also checkpoint (and report) at each epoch's end; "
                                          "off for runs of many tiny epochs")
    eval_batch_size: int = Field(8, ge=1)
    val_subset: int | None = Field(None, ge=1, description="val loss on this many val records (spread over "
                                   "tasks, fixed); None: all")
    init_adapter: str | None = Field(None, description="start from this PEFT adapter, a folder or URI "
                                     "(e.g. stage 1's final/)")
    generate_eval: GenerateEvalSection = GenerateEvalSection()
    stop_after_step: int | None = Field(
        None, ge=1, description="end this run after the checkpoint at this step; rerun the same name to continue")


class DeepSpeedSection(Strict):
    """A DeepSpeed JSON config by reference; batch sizes, clipping and precision are filled in from `train`."""

    config: Path = Path("configs/deepspeed/zero2.json")
    zero_stage: int | None = Field(None, description="override zero_optimization.stage of the JSON (0-3)")

    @field_validator("zero_stage")
    @classmethod
    def _stage(cls, stage: int | None) -> int | None:
        if stage is not None and stage not in (0, 1, 2, 3):
            raise ValueError(f"ZeRO stage must be 0, 1, 2 or 3, got {stage}")
        return stage


class ScalingSection(Strict):
    """Ray Train workers: one process (and one GPU when use_gpu) each."""

    num_workers: int = Field(2, ge=1)
    use_gpu: bool = False
    cpus_per_worker: int = Field(1, ge=1)
    accelerator_type: str | None = Field(None, description="GPU type every worker needs, e.g. A100 (use_gpu only)")


class CheckpointSection(Strict):
    """Which checkpoints to keep (the latest one is always kept as well, for resuming)."""

    num_to_keep: int | None = Field(2, ge=1)
    metric: str = "val_loss"
    mode: Literal["min", "max"] = "min"


class PlanSection(Strict):
    """`mentalglm plan` and the memory check `train` and `tune` run before any worker starts."""

    check: bool = Field(True, description="refuse a GPU run whose planned memory exceeds its GPU (with the "
                        "numbers and the settings that would make it fit)")
    gpu: str | None = Field(None, description="the GPU type to plan for (A100-80G, H100, ...); default: the GPU "
                            "node type of ray.cluster, else scaling.accelerator_type")
    reserve_gib: float = Field(2.0, ge=0, description="GPU memory the plan leaves for the CUDA context, NCCL "
                               "and allocator fragmentation")
    mfu: float = Field(0.35, gt=0, le=1, description="model FLOPs utilisation the wall-time estimate assumes")
    chars_per_token: float = Field(1.4, gt=0, description="tokens estimated from characters when the model's "
                                   "tokenizer is not available locally")


class StageSection(Strict):
    """One stage of a multi-stage run: dotted-key overrides of the base config (`data.dir: data/imhi`)."""

    name: str = Field(pattern=r"^[A-Za-z0-9_.-]+$")
    overrides: dict[str, Any] = Field(default_factory=dict)


class TrainConfig(RunConfig):
    """`mentalglm train CONFIG`."""

    run: RunSection
    lora: LoraSection = LoraSection()
    train: TrainSection = TrainSection()
    deepspeed: DeepSpeedSection = DeepSpeedSection()
    scaling: ScalingSection = ScalingSection()
    checkpoint: CheckpointSection = CheckpointSection()
    failure: dict[Literal["max_failures"], int] = Field(default_factory=lambda: {"max_failures": 0})
    ray: RaySection = RaySection()
    plan: PlanSection = PlanSection()
    stages: list[StageSection] = Field(default_factory=list, description="run these in order; empty: one run")

    @model_validator(mode="after")
    def _unique_stages(self) -> "TrainConfig":
        names = [s.name for s in self.stages]
        if len(names) != len(set(names)):
            raise ValueError(f"stages: names must be unique, got {names}")
        if self.checkpoint.metric.startswith("val_f1") and not self.train.generate_eval.enabled:
            raise ValueError(f"checkpoint.metric: {self.checkpoint.metric} is reported only with "
                             "train.generate_eval.enabled: true")
        if self.failure.get("max_failures", 0) < -1:
            raise ValueError("failure.max_failures must be >= -1 (-1: retry forever)")
        return self
