"""Per-GPU memory of a LoRA run under DeepSpeed ZeRO, term by term.

Model states follow the ZeRO paper (Rajbhandari et al. 2020, "ZeRO: Memory Optimizations Toward Training
Trillion Parameter Models", section 3): with mixed precision, 2 bytes of bf16 weights per parameter, 2 bytes of
bf16 gradients and K = 12 bytes of optimizer state (fp32 master weights, Adam's momentum and variance) per
*trainable* parameter; in fp32, 4 + 4 + 8. Stage 1 partitions the optimizer state over the data-parallel
workers, stage 2 the gradients too, stage 3 the weights too. Under LoRA only the adapter is trainable, so the
frozen base model costs its weights alone.

Activations follow the counting method of Korthikanti et al. 2022 ("Reducing Activation Recomputation in Large
Transformer Models", section 4.1): the bytes of every tensor autograd keeps for the backward pass, per token and
layer, here counted for this architecture (GLM: RMSNorm that upcasts to fp32, grouped-query attention through
SDPA/flash attention, which keeps no s x s matrix, a SwiGLU MLP, LoRA's A outputs):

    per token and layer = p(4i + 2h + 3ad + 3kd + R) + 8h + 4(a + 2)   [+ (p + 1) D with LoRA dropout]

with p the activation bytes (2 in bf16), h hidden, i intermediate, a query heads, k key/value heads, d head size,
R the summed LoRA ranks of one layer, 8h the two norms' fp32 inputs, 4(a + 2) the fp32 softmax log-sum-exp and
norm scales, and D the summed input widths of the LoRA-targeted modules (each keeps its dropout output and a
one-byte mask, as CUDA's fused dropout does). With activation checkpointing a layer keeps only its input (p h)
and one layer's activations exist at a time, during its recomputation. The loss keeps fp32 log-probabilities
(4V per token, V the vocabulary) and its backward briefly holds two more fp32 tensors of that size: 12V per token
at the peak. `tests/plan/` checks the saved-tensor count exactly against autograd's saved tensors on CPU.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from mentalglm.plan.shape import ModelShape


@dataclass(frozen=True)
class ZeroSettings:
    """What the DeepSpeed config decides about memory."""

    stage: int
    offload_optimizer: bool
    offload_param: bool
    reduce_bucket: int        # elements
    prefetch_bucket: int      # elements (stage 3)
    persistence_threshold: int

    @classmethod
    def of(cls, ds: dict[str, Any]) -> "ZeroSettings":
        """Read from a DeepSpeed config dict (DeepSpeed's defaults for keys it leaves out)."""
        zero = ds.get("zero_optimization", {})

        def offloaded(key: str) -> bool:
            return (zero.get(key) or {}).get("device", "none") in ("cpu", "nvme")

        return cls(stage=int(zero.get("stage", 0)), offload_optimizer=offloaded("offload_optimizer"),
                   offload_param=offloaded("offload_param"),
                   reduce_bucket=int(zero.get("reduce_bucket_size", 5e8)),
                   prefetch_bucket=int(zero.get("stage3_prefetch_bucket_size", 5e7)),
                   persistence_threshold=int(zero.get("stage3_param_persistence_threshold", 1e5)))


def activation_bytes_per_token_layer(shape: ModelShape, p: int, lora_dropout: bool) -> float:
    """Bytes one token keeps in one decoder layer for backward (see the module docstring)."""
    h, i, a, k, d = shape.hidden, shape.intermediate, shape.heads, shape.kv_heads, shape.head_dim
    saved = p * (4 * i + 2 * h + 3 * a * d + 3 * k * d + shape.lora_rank_outputs_per_layer) + 8 * h + 4 * (a + 2)
    if lora_dropout:
        saved += (p + 1) * shape.lora_inputs_per_layer
    return saved


def saved_activation_bytes(shape: ModelShape, tokens: int, p: int, checkpointing: bool,
                           lora_dropout: bool) -> float:
    """Bytes autograd keeps after the forward pass of `tokens` tokens (the loss's log-probabilities included)."""
    loss = tokens * (4 * shape.vocab + 8)  # fp32 log-probabilities and the int64 labels
    if checkpointing:
        return tokens * (shape.layers * p * shape.hidden + 4 * shape.hidden + 4) + loss
    return tokens * shape.layers * activation_bytes_per_token_layer(shape, p, lora_dropout) + loss


def peak_activation_bytes(shape: ModelShape, tokens: int, p: int, checkpointing: bool, lora_dropout: bool) -> float:
    """The most activation memory at any moment of one micro-batch: what is saved, plus the loss backward's two
    fp32 vocabulary-sized tensors, or with checkpointing one recomputed layer when that is larger."""
    saved = saved_activation_bytes(shape, tokens, p, checkpointing, lora_dropout)
    loss_backward = tokens * 8 * shape.vocab
    if checkpointing:
        recompute = tokens * (activation_bytes_per_token_layer(shape, p, lora_dropout) + 2 * p * shape.hidden)
        return saved + max(loss_backward, recompute)
    return saved + loss_backward


@dataclass
class MemoryPlan:
    """Per-GPU bytes by term (`terms`, in order) and what lives in CPU memory instead (`cpu_terms`)."""

    terms: dict[str, float] = field(default_factory=dict)
    cpu_terms: dict[str, float] = field(default_factory=dict)
    activations_other: float = 0.0  # the activation peak with the other checkpointing choice, for the table

    @property
    def total(self) -> float:
        return sum(self.terms.values())


def memory_plan(shape: ModelShape, zero: ZeroSettings, world: int, bf16: bool, micro_batch: int, seq_len: int,
                checkpointing: bool, lora_dropout: bool) -> MemoryPlan:
    """Per-GPU memory of one worker of a `world`-worker run (see the module docstring for the formulas)."""
    p = 2 if bf16 else 4
    base, lora = shape.total_params, shape.lora_params
    grad_bytes, optim_bytes = (2, 12) if bf16 else (4, 8)
    plan = MemoryPlan()
    shard = world if zero.stage == 3 else 1
    weights = {"base weights": base * p / shard, "LoRA weights": lora * p / shard}
    target = plan.cpu_terms if zero.offload_param and zero.stage == 3 else plan.terms
    target.update(weights)
    if zero.offload_param and zero.stage == 3:
        plan.terms.update({"base weights": 0.0, "LoRA weights": 0.0})
    plan.terms["gradients (LoRA)"] = lora * grad_bytes / (world if zero.stage >= 2 else 1)
    optimizer = lora * optim_bytes / (world if zero.stage >= 1 else 1)
    if zero.offload_optimizer:
        plan.cpu_terms["optimizer states"] = optimizer
        plan.terms["optimizer states"] = 0.0
    else:
        plan.terms["optimizer states"] = optimizer
    if zero.stage == 3:
        # layers gathered for compute: the largest module and the prefetched next ones, plus the small
        # parameters ZeRO-3 keeps whole on every GPU
        plan.terms["ZeRO-3 gathered weights"] = (shape.largest_module_params + zero.prefetch_bucket
                                                 + shape.small_params) * p
    if zero.stage >= 2:  # the contiguous gradient bucket reductions go through
        plan.terms["DeepSpeed buffers"] = min(zero.reduce_bucket, lora) * p
    tokens = micro_batch * seq_len
    plan.terms["activations"] = peak_activation_bytes(shape, tokens, p, checkpointing, lora_dropout)
    plan.activations_other = peak_activation_bytes(shape, tokens, p, not checkpointing, lora_dropout)
    return plan
