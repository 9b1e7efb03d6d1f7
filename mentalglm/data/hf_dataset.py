"""The built records as a Hugging Face dataset: one config per task, a Parquet file per split, explicit features,
and a dataset card, beside the JSON-lines files `data build` writes.

    datasets.load_dataset("data/cimhi", "suicide_risk")       # DatasetDict of the task's splits

Features: `labels` is a `List(ClassLabel)` over the task's own label names (so a label outside the task cannot be
stored), `explanation` may be null, and `id`, `source`, `post`, `instruction`, `response` are strings. The card
(`README.md`) holds the configs `load_dataset` reads, the provenance and terms of the sources, counts per split,
task and label, and the build config with its SHA-256; `push_to_hub` of the folder's dataset publishes it as is.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import yaml

from mentalglm.runs.files import write_binary_atomic, write_text_atomic
from mentalglm.data.records import Record
from mentalglm.tasks import SCORED_TASKS, get_task

HF_DIR = "hf"
CARD = "README.md"


def task_features(task: str) -> Any:
    """The `datasets.Features` of one task's records."""
    from datasets import ClassLabel, Features, List, Value

    labels = List(ClassLabel(names=list(get_task(task).labels))) if task in SCORED_TASKS else List(Value("string"))
    return Features({"id": Value("string"), "source": Value("string"), "post": Value("string"), "labels": labels,
                     "explanation": Value("string"), "instruction": Value("string"), "response": Value("string")})


def write_hf_dataset(out_dir: Path, outputs: dict[str, list[Record]], report: dict[str, Any]) -> list[str]:
    """Write `{out_dir}/hf/{task}/{split}.parquet` for every task and split, then the card; returns the tasks.

    Each file is written atomically (temp file, then rename); the card, which makes the files loadable, last.
    """
    from datasets import Dataset

    tasks = sorted({r.task for records in outputs.values() for r in records})
    configs = []
    for task in tasks:
        features = task_features(task)
        files = []
        for split, records in outputs.items():
            rows = [r for r in records if r.task == task]
            if not rows:
                continue
            # label names go in as they are: the ClassLabel feature stores their indices and refuses other names
            columns = {name: [getattr(r, name) for r in rows] for name in features}
            target = out_dir / HF_DIR / task / f"{split}.parquet"
            write_binary_atomic(target, Dataset.from_dict(columns, features=features).to_parquet)
            files.append({"split": split, "path": f"{HF_DIR}/{task}/{split}.parquet"})
        configs.append({"config_name": task, "data_files": files})
    write_text_atomic(out_dir / CARD, _card(configs, report))
    return tasks


def _card(configs: list[dict], report: dict[str, Any]) -> str:
    config_json = json.dumps(report.get("config", {}), sort_keys=True, ensure_ascii=False)
    digest = hashlib.sha256(config_json.encode("utf-8")).hexdigest()
    header = yaml.safe_dump({"configs": configs, "language": ["zh", "en"], "license": "other",
                             "pretty_name": "MentalGLM records", "task_categories": ["text-generation"]},
                            allow_unicode=True, sort_keys=False)
    lines = ["---", header.rstrip(), "---", "", "# MentalGLM records", "",
             "Built by `mentalglm data build`: posts of public Chinese (and English IMHI) social-media datasets with "
             "their labels, the instruction a model reads and the answer it is trained to give. Posts are real and "
             "sensitive: research use only; do not redistribute them, and cite the source papers.", "",
             "Load a task: `datasets.load_dataset(PATH, TASK)`; `labels` are class labels over the task's own names.",
             "", "## Sources and terms", ""]
    for source in report.get("config", {}).get("sources", []):
        lines.append(f"- `{source['name']}` ({source['format']}, task {source.get('task')}): "
                     + ", ".join(f"{split} `{path}`" for split, path in source["splits"].items()))
    lines += ["", "The raw-data folder's SOURCES.md (written by `mentalglm data fetch`) gives each file's upstream "
              "repository, commit, SHA-256, terms and citation.", "", "## Counts", "",
              "| split | task | records | labels |", "|---|---|---|---|"]
    for split, tasks in report.get("counts", {}).items():
        for task, counts in tasks.items():
            labels = ", ".join(f"{k} {v}" for k, v in sorted(counts.get("labels", {}).items()))
            lines.append(f"| {split} | {task} | {counts['total']} | {labels} |")
    lines += ["", "## Build config", "", f"SHA-256 of the config below (canonical JSON): `{digest}`", "",
              "```json", json.dumps(report.get("config", {}), indent=2, ensure_ascii=False), "```", ""]
    return "\n".join(lines)
