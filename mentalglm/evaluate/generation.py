"""Batched greedy generation from a base model + LoRA adapter: left padding, KV cache, stop at GLM-4's stop tokens.

`generate_responses` runs in one process; `generate_distributed` spreads the prompts over Ray actors and merges
the answers back in order.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Sequence

from mentalglm.config.schema import ModelConfig
from mentalglm.model.chat_format import stop_token_ids
from mentalglm.model.prompt_ids import left_pad, prompt_encoder


def load_for_generation(model_cfg: ModelConfig, adapter: str | Path | None, merge: bool = True,
                        device: str = "cpu") -> tuple[Any, Any]:
    """(model, tokenizer) ready for generation: base model with the adapter (a folder or an object-store URI;
    merged into the weights by default, for speed), in eval mode. The tokenizer saved beside the adapter wins
    over the base model's.

    Raises:
        ModelLoadError: the base model cannot be loaded.
        AdapterError: `adapter` is not a complete, published adapter folder (the message names the file).
    """
    from mentalglm.model.loading import load_model, load_tokenizer
    from mentalglm.publish import resolve_adapter

    tok_cfg = model_cfg
    if adapter is not None:
        adapter = resolve_adapter(adapter)  # verified; a URI is fetched into a cache keyed by its manifest
        if (Path(adapter) / "tokenizer_config.json").exists():
            tok_cfg = model_cfg.model_copy(update={"name_or_path": str(adapter)})
    tokenizer = load_tokenizer(tok_cfg)
    model = load_model(model_cfg)
    if adapter is not None:
        from peft import PeftModel

        model = PeftModel.from_pretrained(model, str(adapter))
        if merge:
            model = model.merge_and_unload()
    return model.to(device).eval(), tokenizer


def generate_responses(model: Any, tokenizer: Any, instructions: Sequence[str], batch_size: int = 8,
                       max_new_tokens: int = 128, progress: bool = False, synced_gpus: bool = False) -> list[str]:
    """Greedy answers to `instructions`, in order.

    Prompts are sorted by length so each left-padded batch wastes little; generation uses the KV cache and
    stops at `<|endoftext|>`, `<|user|>` or `<|observation|>`.
    """
    import torch
    from tqdm import tqdm

    encoder = prompt_encoder(tokenizer)
    prompts = [encoder.instruction_ids(text) for text in instructions]
    lengths = [len(p) for p in prompts]
    order = sorted(range(len(prompts)), key=lambda i: -lengths[i])
    answers: list[str] = [""] * len(prompts)
    device = next(model.parameters()).device
    stops = stop_token_ids(tokenizer)
    batches = [order[i:i + batch_size] for i in range(0, len(order), batch_size)]
    for batch in tqdm(batches, desc="generating", unit="batch", disable=not progress):
        input_ids, attention_mask = left_pad([prompts[i] for i in batch], tokenizer.pad_token_id)
        enc = {"input_ids": input_ids.to(device), "attention_mask": attention_mask.to(device)}
        with torch.no_grad():
            out = model.generate(**enc, max_new_tokens=max_new_tokens, do_sample=False, use_cache=True,
                                 eos_token_id=stops, pad_token_id=tokenizer.pad_token_id, synced_gpus=synced_gpus)
        new = out[:, enc["input_ids"].shape[1]:]
        for row, i in enumerate(batch):
            answers[i] = tokenizer.decode(new[row], skip_special_tokens=True).strip()
    return answers


class _GenerationActor:
    def __init__(self, model_cfg: dict, adapter: str | None, merge: bool, use_gpu: bool, threads: int):
        import torch

        torch.set_num_threads(threads)
        self.model, self.tokenizer = load_for_generation(ModelConfig.model_validate(model_cfg), adapter, merge,
                                                         "cuda" if use_gpu else "cpu")

    def generate(self, instructions: list[str], batch_size: int, max_new_tokens: int) -> list[str]:
        return generate_responses(self.model, self.tokenizer, instructions, batch_size, max_new_tokens)


def generate_distributed(model_cfg: ModelConfig, adapter: str | Path | None, instructions: Sequence[str],
                         num_workers: int, batch_size: int, max_new_tokens: int, merge: bool = True,
                         use_gpu: bool = False, cpus_per_worker: int = 1) -> list[str]:
    """`generate_responses` over `num_workers` Ray actors, each holding the model and one contiguous shard."""
    import ray

    actor_cls = ray.remote(num_cpus=cpus_per_worker, num_gpus=1 if use_gpu else 0)(_GenerationActor)
    actors = [actor_cls.remote(model_cfg.model_dump(mode="json"), str(adapter) if adapter else None, merge,
                               use_gpu, cpus_per_worker) for _ in range(num_workers)]
    size = math.ceil(len(instructions) / num_workers)
    shards = [list(instructions[i * size:(i + 1) * size]) for i in range(num_workers)]
    try:
        results = ray.get([a.generate.remote(s, batch_size, max_new_tokens) for a, s in zip(actors, shards)])
    finally:
        for actor in actors:
            ray.kill(actor)
    return [answer for shard in results for answer in shard]
