"""`mentalglm data explain`: the 理由 of label-only records from a teacher model, verified, on Ray Data.

Reads every record of `data_dir`; those of `tasks` and `splits` without an explanation go through Ray Data to
`workers` actors (`ExplainWorker`), which ask the teacher (`teacher.concurrency` requests in flight in all) and
verify each answer (`mentalglm.explain.verify`). The new data folder `out_dir` has every record of `data_dir`:
the verified ones with their explanation and a response re-rendered with it, all others unchanged; beside them
`explain_stats.json` (counts: kept, rejected by reason, request failures by kind, requests, cache hits, rate),
`explain_provenance.jsonl` (per asked record: status, teacher model, prompt version and SHA-256, sample) and,
with `review`, `review.csv`. The folder is written whole or not at all.
"""

from __future__ import annotations

import json
import logging
import math
import pickle
import time
from dataclasses import replace
from collections import Counter
from pathlib import Path
from typing import Any

from mentalglm.config import ConfigError
from mentalglm.config.explain import ExplainConfig
from mentalglm.data.hf_dataset import write_hf_dataset
from mentalglm.runs.files import write_dir_atomic, write_json_atomic, write_jsonl_atomic
from mentalglm.data.records import Record, load_split
from mentalglm.explain.prompts import load_prompt
from mentalglm.explain.review import write_review
from mentalglm.tasks import render_response

log = logging.getLogger(__name__)
SPLITS = ("train", "val", "test")


def _read_data_dir(cfg: ExplainConfig) -> tuple[dict[str, list[Record]], dict]:
    data = Path(cfg.data_dir)
    if Path(cfg.out_dir).resolve() == data.resolve():
        raise ConfigError("out_dir: must differ from data_dir (the source data folder is never rewritten)")
    stats_path = data / "stats.json"
    if not stats_path.exists():
        raise ConfigError(f"data_dir: {stats_path} not found; build the data with `mentalglm data build`")
    report = json.loads(stats_path.read_text(encoding="utf-8"))
    outputs = {split: load_split(data, split) for split in SPLITS if (data / f"{split}.jsonl").exists()}
    return outputs, report


def _consistency_models(cfg: ExplainConfig, outputs: dict[str, list[Record]]) -> dict[str, bytes]:
    if not cfg.verify.consistency:
        return {}
    from mentalglm.model.label_model import LabelModel

    models = {}
    for task in cfg.tasks:
        train = [r for r in outputs.get("train", []) if r.task == task]
        if not train:
            raise ConfigError(f"verify.consistency: no {task} records in {cfg.data_dir}/train.jsonl to fit the "
                              "consistency model on")
        models[task] = pickle.dumps(LabelModel(task, [r.post for r in train], [r.labels for r in train],
                                               cfg.verify.consistency_model))
    return models


def _ask_teacher(cfg: ExplainConfig, todo: list[Record], models: dict[str, bytes]) -> list[dict[str, Any]]:
    import ray

    from mentalglm.explain.worker import ExplainWorker
    from mentalglm.cluster.connect import ensure_ray

    api_key = cfg.teacher.api_key("teacher")
    ensure_ray(cfg.ray)
    threads = math.ceil(cfg.teacher.concurrency / cfg.workers)
    qps = cfg.teacher.qps / cfg.workers if cfg.teacher.qps else None
    items = [{"id": r.id, "task": r.task, "post": r.post, "labels": json.dumps(r.labels, ensure_ascii=False)}
             for r in todo]
    ctx = ray.data.DataContext.get_current()
    ctx.enable_progress_bars = False
    ds = ray.data.from_items(items).map_batches(
        ExplainWorker, fn_constructor_kwargs={"cfg": cfg.model_dump(mode="json"), "models": models,
                                              "api_key": api_key, "threads": threads, "qps": qps},
        compute=ray.data.ActorPoolStrategy(size=cfg.workers), batch_size=max(cfg.batch_size, 8 * threads),
        num_cpus=0.25)  # the actors wait on HTTP; a quarter CPU each leaves the rest to Ray Data and the driver
    return ds.take_all()


def run_explain(cfg: ExplainConfig) -> dict:
    """Explain the label-only records of `cfg.data_dir` into `cfg.out_dir` (module docstring) and return the
    stats written to `explain_stats.json`.

    Raises:
        ConfigError: out_dir equals data_dir, data_dir is not a built data folder, or the consistency model has no
            training records. DataError: a record line of data_dir is malformed.
        RuntimeError: the Ray Data run lost records.
    """
    outputs, report = _read_data_dir(cfg)
    prompts = {task: load_prompt(task) for task in cfg.tasks}
    records = [r for split in SPLITS for r in outputs.get(split, [])]
    in_scope = [r for r in records if r.task in cfg.tasks and r.split in cfg.splits]
    todo = [r for r in in_scope if not r.explanation]
    if cfg.limit:
        todo = todo[: cfg.limit]
    models = _consistency_models(cfg, outputs)

    start = time.perf_counter()
    outcomes = _ask_teacher(cfg, todo, models) if todo else []
    elapsed = time.perf_counter() - start
    by_id = {o["id"]: o for o in outcomes}
    if len(by_id) != len(todo):
        raise RuntimeError(f"{len(todo)} records sent to the teacher, {len(by_id)} outcomes came back")

    explained = {split: [_with_outcome(r, by_id.get(r.id)) for r in recs] for split, recs in outputs.items()}
    stats = _stats(cfg, prompts, records, in_scope, todo, outcomes, elapsed)
    provenance = [_provenance(r, by_id[r.id], cfg, prompts[r.task]) for r in todo]
    card_report = {**report, "explained": {"from": str(cfg.data_dir), "teacher": cfg.teacher.model,
                                           "kept": stats["records"]["kept"]}}

    def fill(folder: Path) -> None:
        for split, recs in explained.items():
            write_jsonl_atomic(folder / f"{split}.jsonl", (r.to_dict() for r in recs))
        write_json_atomic(folder / "stats.json", card_report)
        write_hf_dataset(folder, explained, card_report)
        write_json_atomic(folder / "explain_stats.json", stats)
        write_jsonl_atomic(folder / "explain_provenance.jsonl", provenance)
        if cfg.review:
            write_review(folder / "review.csv", todo, by_id, cfg.review, cfg.seed)

    write_dir_atomic(cfg.out_dir, fill)
    r = stats["records"]
    log.info("explained %d of %d records asked (%d rejected, %d failed requests); %d requests, %d cached answers; "
             "%.1f records/s; %s", r["kept"], r["asked"], r["rejected"], r["failed"], stats["requests"],
             stats["cache_hits"], stats["records_per_s"], cfg.out_dir)
    return stats


def _with_outcome(record: Record, outcome: dict | None) -> Record:
    if not outcome or outcome["status"] != "kept":
        return record
    return replace(record, explanation=outcome["explanation"],
                   response=render_response(record.task, record.labels, outcome["explanation"]))


def _provenance(record: Record, outcome: dict, cfg: ExplainConfig, prompt) -> dict:
    return {"id": record.id, "split": record.split, "task": record.task, "status": outcome["status"],
            "teacher_model": cfg.teacher.model, "prompt_version": prompt.version, "prompt_sha256": prompt.sha256,
            "sample": outcome["sample"] if outcome["status"] == "kept" else None,
            "rejections": json.loads(outcome["reasons"]), "failure": outcome["failure"] or None}


def _stats(cfg: ExplainConfig, prompts: dict, records: list[Record], in_scope: list[Record], todo: list[Record],
           outcomes: list[dict], elapsed: float) -> dict:
    status = Counter(o["status"] for o in outcomes)
    task_of = {r.id: r.task for r in todo}
    by_task: dict[str, Counter] = {task: Counter() for task in cfg.tasks}
    for o in outcomes:
        by_task[task_of[o["id"]]][o["status"]] += 1
    rejections = Counter(reason for o in outcomes for reason in json.loads(o["reasons"]))
    failures = Counter(o["failure"] for o in outcomes if o["failure"])
    return {
        "teacher": {"model": cfg.teacher.model, "concurrency": cfg.teacher.concurrency, "qps": cfg.teacher.qps},
        "prompts": {task: {"version": p.version, "sha256": p.sha256} for task, p in prompts.items()},
        "records": {"total": len(records), "in_scope": len(in_scope),
                    "already_explained": sum(1 for r in in_scope if r.explanation), "asked": len(todo),
                    "kept": status["kept"], "rejected": status["rejected"], "failed": status["failed"]},
        "by_task": {task: {"asked": sum(c.values()), "kept": c["kept"], "rejected": c["rejected"],
                           "failed": c["failed"]} for task, c in by_task.items()},
        "rejections": dict(sorted(rejections.items())),
        "request_failures": dict(sorted(failures.items())),
        "requests": sum(int(o["requests"]) for o in outcomes),
        "cache_hits": sum(int(o["cache_hits"]) for o in outcomes),
        "seconds": round(elapsed, 2),
        "records_per_s": round(len(todo) / elapsed, 2) if elapsed > 0 and todo else 0.0,
        "settings": {"max_attempts": cfg.max_attempts, "workers": cfg.workers, "splits": list(cfg.splits),
                     "verify": cfg.verify.model_dump(mode="json")},
    }

