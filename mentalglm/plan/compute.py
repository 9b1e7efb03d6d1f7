"""FLOPs of LoRA training and the run's length from the built data.

Model FLOPs follow the PaLM paper's accounting (Chowdhery et al. 2022, appendix B: 6N + 12 L H Q T per token for
full training, N the matmul parameters, L layers, H heads, Q head size, T the sequence length), adapted to LoRA:
the forward pass is 2N + 2N_lora + 4 L H Q T per token; the backward pass computes input gradients through the
frozen weights (2N) but weight gradients only for the adapter (4N_lora in all), and 8 L H Q T for attention. So

    model FLOPs per token = 4N + 6N_lora + 12 L H Q T          (not 6N: the base weights get no gradient)

Activation checkpointing runs every decoder layer's forward again in the backward pass; that work is not in the model
FLOPs (MFU counts useful work only) but is in the hardware FLOPs printed beside them. Wall time is model FLOPs
divided by MFU x the GPU's dense bf16 peak x the number of workers.
"""

from __future__ import annotations

from dataclasses import dataclass

from mentalglm.plan.shape import ModelShape


def model_flops_per_token(shape: ModelShape, seq_len: float) -> float:
    """Training FLOPs of one token in a sequence of `seq_len` tokens (see the module docstring)."""
    attention = 12 * shape.layers * shape.heads * shape.head_dim * seq_len
    return 4 * shape.matmul_params + 6 * shape.lora_params + attention


def recompute_flops_per_token(shape: ModelShape, seq_len: float) -> float:
    """The extra forward pass activation checkpointing runs, per token (the decoder layers; not the LM head)."""
    return 2 * (shape.matmul_params - shape.head_params) + 2 * shape.lora_params + 4 * shape.layers * shape.heads * shape.head_dim * seq_len


@dataclass(frozen=True)
class DataTokens:
    """Token counts of a training split: examples, tokens (each capped at max_seq_len), the sum of squared
    lengths (attention's cost grows with it), and how they were counted."""

    examples: int
    tokens: int
    squared: int
    how: str


def data_tokens(lengths: list[int], how: str) -> DataTokens:
    """`DataTokens` of the given per-example lengths."""
    return DataTokens(len(lengths), sum(lengths), sum(n * n for n in lengths), how)


def epoch_model_flops(shape: ModelShape, data: DataTokens, used_fraction: float) -> float:
    """Model FLOPs of one epoch over `data`, of which `used_fraction` of the examples make whole optimizer steps
    (the remainder is dropped, as the trainer does)."""
    per_token = 4 * shape.matmul_params + 6 * shape.lora_params
    attention = 12 * shape.layers * shape.heads * shape.head_dim
    return used_fraction * (per_token * data.tokens + attention * data.squared)
