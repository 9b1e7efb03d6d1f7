"""Val F1 during training: every rank generates answers for its share of a fixed val subset; scores are shared."""

from __future__ import annotations

from typing import Any, Sequence

from mentalglm.data.records import Record
from mentalglm.data.split_records import SplitRecords
from mentalglm.model.inference import generate_responses
from mentalglm.tasks.metrics import HEADLINE, task_metrics
from mentalglm.tasks import SCORED_TASKS, parse_response


def val_subset(records: SplitRecords, size: int) -> Sequence[Record]:
    """An evenly spaced, fixed subset of the scored val records, every task with its share."""
    return records.only(SCORED_TASKS).evenly_spaced(size)


def val_f1(engine: Any, tokenizer: Any, records: list[Record], rank: int, world: int, batch_size: int,
           max_new_tokens: int, zero3: bool) -> dict[str, float]:
    """`val_f1_<task>` (the task's headline F1) and their mean `val_f1`, identical on every rank.

    Every rank answers the same number of prompts (the last rank's share is padded), since ZeRO-3 generation
    gathers weights collectively and `synced_gpus` keeps the ranks stepping together.
    """
    import torch.distributed as dist

    if not records:
        return {}
    share = -(-len(records) // world)
    mine = list(range(rank * share, min(len(records), (rank + 1) * share)))
    padded = mine + [mine[-1] if mine else 0] * (share - len(mine))
    engine.module.eval()
    answers = generate_responses(engine.module, tokenizer, [records[i].instruction for i in padded], batch_size,
                                 max_new_tokens, synced_gpus=zero3 and world > 1)
    engine.module.train()
    pairs = list(zip(mine, answers[: len(mine)]))
    if world > 1:
        gathered: list[Any] = [None] * world
        dist.all_gather_object(gathered, pairs)
        pairs = [p for part in gathered for p in part]
    ordered = [answer for _, answer in sorted(pairs)]
    out = {}
    for task in SCORED_TASKS:
        mine = [(r, a) for r, a in zip(records, ordered) if r.task == task]
        if mine:
            parsed = [parse_response(task, a) for _, a in mine]
            metrics = task_metrics(task, [r.labels for r, _ in mine], [p.labels if p.ok else None for p in parsed])
            out[f"val_f1_{task}"] = metrics[HEADLINE[task]]
    out["val_f1"] = sum(out.values()) / len(out)
    return out
