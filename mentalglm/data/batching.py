"""Length-grouped batches (little padding), per-rank sharding, and padding into tensors."""

from __future__ import annotations

import random
from typing import Sequence

from mentalglm.data.tokenization import IGNORE_INDEX, EncodedExample


def length_grouped_batches(lengths: Sequence[int], batch_size: int, seed: int, epoch: int = 0,
                           group_factor: int = 64) -> list[list[int]]:
    """Batches of indices where each batch holds examples of similar length.

    The indices are shuffled (by seed and epoch), cut into groups of `batch_size * group_factor`, each group
    sorted by length and cut into batches; the batch order is then shuffled. A larger `group_factor` means
    less padding and less randomness.

    Args:
        lengths: token length of each example.
        batch_size: examples per batch.
        seed: base seed; with `epoch` it fixes the order.
        epoch: changes the shuffle each epoch.
        group_factor: batches per sorting group; 1 gives plain random batches.
    """
    if batch_size < 1:
        raise ValueError("batch_size must be >= 1")
    rng = random.Random(f"{seed}/{epoch}")
    order = list(range(len(lengths)))
    rng.shuffle(order)
    group = batch_size * max(1, group_factor)
    batches: list[list[int]] = []
    for start in range(0, len(order), group):
        chunk = sorted(order[start:start + group], key=lambda i: lengths[i], reverse=True)
        batches.extend(chunk[i:i + batch_size] for i in range(0, len(chunk), batch_size))
    rng.shuffle(batches)
    return batches


def shard_batches(batches: list[list[int]], rank: int, world_size: int) -> list[list[int]]:
    """The batches of `rank`: every `world_size`-th, after dropping the tail so all ranks take equal steps."""
    usable = len(batches) - len(batches) % world_size
    return batches[rank:usable:world_size]


def padding_share(lengths: Sequence[int], batches: list[list[int]]) -> float:
    """Share of padding tokens when each batch is padded to its longest example."""
    padded = sum(max(lengths[i] for i in b) * len(b) for b in batches if b)
    real = sum(lengths[i] for b in batches for i in b)
    return 0.0 if padded == 0 else 1.0 - real / padded


def collate(examples: list[EncodedExample], pad_token_id: int):
    """Right-pad a batch into `input_ids`, `attention_mask` and `labels` tensors (labels padded with -100)."""
    import torch

    width = max(len(e) for e in examples)
    input_ids = torch.full((len(examples), width), pad_token_id, dtype=torch.long)
    labels = torch.full((len(examples), width), IGNORE_INDEX, dtype=torch.long)
    attention = torch.zeros((len(examples), width), dtype=torch.long)
    for row, e in enumerate(examples):
        n = len(e)
        input_ids[row, :n] = torch.tensor(e.input_ids)
        labels[row, :n] = torch.tensor(e.labels)
        attention[row, :n] = 1
    return {"input_ids": input_ids, "attention_mask": attention, "labels": labels}
