"""Where answers come from: the `AnswerSource` protocol and its implementations.

An answer source turns a list of instructions (user turns) into a list of answers, in order. Evaluation takes any
of them: `LocalAnswers` (the model in this process), `RayActorAnswers` (the prompts spread over Ray actors, each
holding the model, answers merged back in order) and `mentalglm.evaluate.endpoint.EndpointAnswers` (a served
model over HTTP). All of the in-process ones answer through `mentalglm.model.inference`.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Protocol, Sequence

from mentalglm.config.schema import ModelConfig
from mentalglm.model.inference import generate_responses, load_for_generation


class AnswerSource(Protocol):
    """Answers instructions, in order."""

    def __call__(self, instructions: Sequence[str]) -> list[str]:
        """One answer per instruction."""
        ...


class LocalAnswers:
    """Greedy answers from base model + adapter loaded in this process."""

    def __init__(self, model_cfg: ModelConfig, adapter: str | Path | None, batch_size: int, max_new_tokens: int,
                 merge: bool = True, use_gpu: bool = False, progress: bool = False):
        self.model, self.tokenizer = load_for_generation(model_cfg, adapter, merge, "cuda" if use_gpu else "cpu")
        self.batch_size, self.max_new_tokens, self.progress = batch_size, max_new_tokens, progress

    def __call__(self, instructions: Sequence[str]) -> list[str]:
        return generate_responses(self.model, self.tokenizer, instructions, self.batch_size, self.max_new_tokens,
                                  progress=self.progress)


class _GenerationActor:
    def __init__(self, model_cfg: dict, adapter: str | None, merge: bool, use_gpu: bool, threads: int):
        import torch

        torch.set_num_threads(threads)
        self.model, self.tokenizer = load_for_generation(ModelConfig.model_validate(model_cfg), adapter, merge,
                                                         "cuda" if use_gpu else "cpu")

    def generate(self, instructions: list[str], batch_size: int, max_new_tokens: int) -> list[str]:
        return generate_responses(self.model, self.tokenizer, instructions, batch_size, max_new_tokens)


class RayActorAnswers:
    """Greedy answers from `num_workers` Ray actors, each holding the model and answering one contiguous shard of
    every call. The actors are started by the first call and kept for the next ones until `close()`."""

    def __init__(self, model_cfg: ModelConfig, adapter: str | Path | None, num_workers: int, batch_size: int,
                 max_new_tokens: int, merge: bool = True, use_gpu: bool = False, cpus_per_worker: int = 1):
        self.model_cfg, self.adapter = model_cfg, str(adapter) if adapter else None
        self.num_workers, self.batch_size, self.max_new_tokens = num_workers, batch_size, max_new_tokens
        self.merge, self.use_gpu, self.cpus_per_worker = merge, use_gpu, cpus_per_worker
        self._actors: list = []

    def __call__(self, instructions: Sequence[str]) -> list[str]:
        import ray

        if not self._actors:
            actor_cls = ray.remote(num_cpus=self.cpus_per_worker,
                                   num_gpus=1 if self.use_gpu else 0)(_GenerationActor)
            self._actors = [actor_cls.remote(self.model_cfg.model_dump(mode="json"), self.adapter, self.merge,
                                             self.use_gpu, self.cpus_per_worker) for _ in range(self.num_workers)]
        size = math.ceil(len(instructions) / self.num_workers)
        shards = [list(instructions[i * size:(i + 1) * size]) for i in range(self.num_workers)]
        try:
            results = ray.get([a.generate.remote(s, self.batch_size, self.max_new_tokens)
                               for a, s in zip(self._actors, shards)])
        except BaseException:
            self.close()
            raise
        return [answer for shard in results for answer in shard]

    def close(self) -> None:
        """Stop the actors (a later call starts new ones)."""
        import ray

        for actor in self._actors:
            ray.kill(actor)
        self._actors = []
