"""`mentalglm evaluate`: generate answers for a split with base model + adapter, parse, score, write the report."""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import TYPE_CHECKING, Sequence

from mentalglm.config import ConfigError
from mentalglm.config.evaluate import EvaluateConfig
from mentalglm.config.judge import JudgeConfig
from mentalglm.errors import DataError
from mentalglm.data.split_records import SplitRecords, split_records
from mentalglm.evaluate.report import write_outputs
from mentalglm.data.records import Record
from mentalglm.evaluate.scoring import Prediction, parse_answers, score
from mentalglm.runs.publish import check_adapter
from mentalglm.tasks import SCORED_TASKS, zero_shot_instruction

if TYPE_CHECKING:
    from mentalglm.model.answer_sources import AnswerSource

log = logging.getLogger(__name__)

EVAL_CHUNK = 2048  # records answered per call of the answer source; only these are held as Python objects


def load_eval_records(cfg: EvaluateConfig, split: str) -> SplitRecords:
    """The scored records of `split` (tasks of `data.tasks` that have metrics), a stratified sample of
    `evaluate.limit` of them when set, memory-mapped from the build's Parquet.

    Raises:
        ConfigError: naming data.dir when the split is missing or empty.
    """
    tasks = [t for t in cfg.data.tasks if t in SCORED_TASKS]
    try:
        records = split_records(cfg.data.dir, split, tasks)
    except DataError as exc:
        raise ConfigError(f"data.dir: {exc} (evaluate.split, --split {split})") from None
    if cfg.evaluate.limit:
        records = records.stratified(cfg.evaluate.limit, cfg.evaluate.sample_seed)
    if not records:
        raise ConfigError(f"data.tasks: no {tasks} records in the {split} split of {cfg.data.dir}")
    return records


def local_generator(cfg: EvaluateConfig, checkpoint: str | Path | None) -> AnswerSource:
    """The answer source of this config: the model in this process, or Ray actors when
    `evaluate.num_workers > 1`."""
    from mentalglm.model.answer_sources import LocalAnswers, RayActorAnswers

    ev = cfg.evaluate
    if ev.num_workers > 1:
        from mentalglm.cluster.capacity import check_capacity

        check_capacity(cfg.ray, ev.num_workers, ev.cpus_per_worker, 1 if ev.use_gpu else 0,
                       key="evaluate.num_workers")  # with ray.cluster: against its node types, before connecting
        from mentalglm.cluster.connect import ensure_ray

        ensure_ray(cfg.ray)
        return RayActorAnswers(cfg.model, checkpoint, ev.num_workers, ev.batch_size, ev.max_new_tokens,
                               ev.merge_adapter, ev.use_gpu, ev.cpus_per_worker)
    return LocalAnswers(cfg.model, checkpoint, ev.batch_size, ev.max_new_tokens, ev.merge_adapter, ev.use_gpu,
                        ev.progress)


def judge_predictions(judge_cfg: JudgeConfig, records: Sequence[Record], predictions: list[Prediction],
                      metrics: dict) -> None:
    """Score every parsed prediction's explanation with the LLM judge: `judge` on each prediction, `judge_<criterion>`
    (mean over the scored ones) per task in `metrics`, and the judge's counts in `metrics["judge"]`."""
    from mentalglm.evaluate.judge import Judge
    from mentalglm.tasks.rubric import CRITERIA

    judged = [(r, p) for r, p in zip(records, predictions, strict=True) if p.explanation and p.predicted]
    scores, counts = Judge(judge_cfg).score([(p.id, p.task, r.post, "、".join(p.predicted), p.explanation)
                                             for r, p in judged])
    for (_, prediction), judged_scores in zip(judged, scores):
        prediction.judge = judged_scores
    for task, task_metrics in metrics["tasks"].items():
        for criterion in CRITERIA:
            values = [p.judge[criterion] for _, p in judged if p.task == task and p.judge[criterion] is not None]
            task_metrics[f"judge_{criterion}"] = sum(values) / len(values) if values else None
    metrics["judge"] = {"model": judge_cfg.judge.model, "items": len(judged), **counts}


def answer_source(cfg: EvaluateConfig) -> AnswerSource:
    """Where the answers come from: the service at `evaluate.endpoint`, else `evaluate.checkpoint` on the base
    model (in this process, or over Ray actors)."""
    if cfg.evaluate.endpoint:
        from mentalglm.evaluate.endpoint import endpoint_generator

        return endpoint_generator(cfg.evaluate.endpoint, cfg)
    return local_generator(cfg, cfg.evaluate.checkpoint)


def evaluate(cfg: EvaluateConfig, generator: AnswerSource | None = None, model_name: str | None = None,
             judge: JudgeConfig | None = None) -> dict:
    """Score `evaluate.checkpoint` (None: the base model) or `evaluate.endpoint` on `evaluate.split`, write the
    outputs to `evaluate.output_dir()`, with the LLM judge of `evaluate.judge` when set.

    Args:
        cfg: the evaluate config: model, data, what to score, generation settings.
        generator: the answer source instead of `answer_source(cfg)` (tests, scripted answers).
        model_name: the `model` field of metrics.json (default: the endpoint, the checkpoint or the model).
        judge: the judge config itself, instead of the file `evaluate.judge` names.

    Returns:
        the metrics.json content.

    Raises:
        ConfigError: missing split or records, an unreadable judge config; AdapterError: the checkpoint is not a
            complete, published adapter; EndpointError: the service refused a request.
    """
    from mentalglm.config import load_config

    ev = cfg.evaluate
    if generator is None and not ev.endpoint and ev.checkpoint is not None:
        check_adapter(ev.checkpoint)  # before any model loads or Ray starts
    if judge is None and ev.judge:
        judge = load_config(JudgeConfig, ev.judge)
    records = load_eval_records(cfg, ev.split)
    out = ev.output_dir()
    generate = generator or answer_source(cfg)
    start = time.perf_counter()
    predictions = []
    base_model = generator is None and ev.checkpoint is None and ev.endpoint is None
    zero_shot = base_model if ev.zero_shot is None else ev.zero_shot
    try:
        for first in range(0, len(records), EVAL_CHUNK):
            chunk = records[first:first + EVAL_CHUNK]
            prompts = [zero_shot_instruction(r.instruction, r.task) if zero_shot else r.instruction for r in chunk]
            predictions += parse_answers(chunk, generate(prompts))
    finally:
        if generator is None and hasattr(generate, "close"):
            generate.close()
    elapsed = time.perf_counter() - start
    name = model_name or ev.endpoint or str(ev.checkpoint or cfg.model.name_or_path)
    metrics = score(records, predictions, ev.split, name)
    metrics["generation"] = {"records": len(records), "prompt": "zero-shot" if zero_shot else "c-imhi",
                             "seconds": round(elapsed, 2),
                             "samples_per_s": round(len(records) / max(elapsed, 1e-9), 2)}
    if judge is not None:
        judge_predictions(judge, records, predictions, metrics)
    write_outputs(out, metrics, predictions)
    log.info("scored %d %s records in %.1fs; outputs in %s", len(records), ev.split, elapsed, out)
    return metrics
