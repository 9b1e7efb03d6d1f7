"""`mentalglm rate export`: a blinded rating set from one or more systems' explanations.

Items are taken per system, stratified by task and label (round robin over the strata, seeded), shuffled together,
and given random ids; system names become codes (S1, S2, … in a seeded random order). Written to `out_dir`:
`labelstudio/config.xml` and `labelstudio/tasks.json` (a Label Studio project, both checked with Label Studio's SDK),
`ratings.csv` (the same items for spreadsheet raters: one row per item, a `rater` column and one column per
criterion to fill) and `key/` (`key.json`: item -> system, code and record id; `items.jsonl`: per item the automatic
metrics that `rate import` correlates with the human scores). Give raters the first two, never `key/`.
"""

from __future__ import annotations

import csv
import io
import json
import random
from pathlib import Path
from typing import Any

from mentalglm.config.rating import RateExportConfig
from mentalglm.data.io import DataError, iter_jsonl, read_text
from mentalglm.runs.files import write_dir_atomic, write_json_atomic, write_text_atomic
from mentalglm.tasks.text_metrics import corpus_bleu4, rouge_l, tokenize_zh
from mentalglm.tasks.evidence import grounded_spans
from mentalglm.tasks.rubric import CRITERIA, labelstudio_config
from mentalglm.data.stratify import round_robin

ITEM_COLUMNS = ("item_id", "system", "task", "label", "post", "explanation")


def _from_predictions(path: Path, records: dict[str, Any]) -> list[dict[str, Any]]:
    out = []
    for lineno, row, error in iter_jsonl(path):
        if error:
            raise error
        if not isinstance(row.get("id"), str) or not isinstance(row.get("task"), str):  # iter_jsonl gave an object
            raise DataError(path, lineno, "not a prediction (an object with id, task, predicted, explanation)")
        if not row.get("explanation") or row.get("predicted") is None:
            continue  # nothing to rate: no explanation, or an answer that named no label
        if not isinstance(row["explanation"], str) or not isinstance(row["predicted"], list):
            raise DataError(path, lineno, "explanation must be text and predicted a list of labels")
        record = records.get(row["id"])
        if record is None:
            raise DataError(path, lineno, f"record {row['id']!r} is not in the data folder's split")
        out.append({"record_id": row["id"], "task": row["task"], "label": "、".join(row["predicted"]),
                    "post": record.post, "explanation": row["explanation"], "reference": record.explanation,
                    **{k: v for k, v in row.items() if k.startswith("judge_")}})
    return out


def _from_review(path: Path) -> list[dict[str, Any]]:
    text, _ = read_text(path)
    out = []
    reader = csv.DictReader(io.StringIO(text))
    columns = reader.fieldnames or []
    missing = [c for c in ("id", "task", "labels", "post", "explanation", "status") if c not in columns]
    if missing:
        raise DataError(path, 1, f"no {', '.join(missing)} column (a review.csv of `data explain --review`)")
    for row in reader:
        if row.get("status") == "kept" and row.get("explanation"):
            out.append({"record_id": row["id"], "task": row["task"], "label": row["labels"], "post": row["post"],
                        "explanation": row["explanation"], "reference": None})
    return out


def _stratified(rows: list[dict], size: int | None, rng: random.Random) -> list[dict]:
    strata: dict[tuple[str, str], list[dict]] = {}
    for row in rows:
        strata.setdefault((row["task"], row["label"]), []).append(row)
    return round_robin(strata, len(rows) if size is None else size, rng)


def item_metrics(item: dict[str, Any]) -> dict[str, float | None]:
    """ROUGE-L and BLEU-4 against the reference explanation (None without one), and the grounding rate."""
    found, total = grounded_spans(item["explanation"], item["post"])
    out: dict[str, float | None] = {"grounding_rate": len(found) / total if total else None}
    if item.get("reference"):
        pred, ref = tokenize_zh(item["explanation"]), tokenize_zh(item["reference"])
        out.update(rouge_l=rouge_l(pred, ref), bleu4=corpus_bleu4([pred], [ref]))
    else:
        out.update(rouge_l=None, bleu4=None)
    out.update({k: v for k, v in item.items() if k.startswith("judge_")})
    return out


def export_rating_set(cfg: RateExportConfig) -> dict[str, int]:
    """Write the rating set of `cfg` (module docstring); returns the item count per system.

    Raises:
        DataError: a predictions file names a record the data folder lacks, or a line is malformed.
        ValueError: Label Studio's SDK rejects the config or a task (a bug here, never the user's input).
    """
    from label_studio_sdk.label_interface import LabelInterface

    rng = random.Random(cfg.seed)
    records: dict[str, Any] = {}
    if cfg.data_dir is not None:
        from mentalglm.data.records import load_split

        records = {r.id: r for r in load_split(cfg.data_dir, cfg.split)}
    names = list(cfg.systems)
    codes = dict(zip(rng.sample(names, len(names)), (f"S{i + 1}" for i in range(len(names)))))
    items: list[dict[str, Any]] = []
    for name, path in cfg.systems.items():
        rows = _from_review(path) if Path(path).suffix == ".csv" else _from_predictions(Path(path), records)
        if not rows:
            raise DataError(path, None, f"no item of system {name!r} can be rated: none has an explanation and a "
                            "label (an empty rating set is not written)")
        for row in _stratified(rows, cfg.per_system, rng):
            items.append({**row, "system_name": name, "system": codes[name]})
    rng.shuffle(items)
    for i, item in enumerate(items):
        item["item_id"] = f"i{i + 1:05d}-{rng.getrandbits(24):06x}"

    config = labelstudio_config()
    interface = LabelInterface(config)
    interface.validate()
    tasks = [{"data": {k: item[k] for k in ITEM_COLUMNS}} for item in items]
    bad = [t["data"]["item_id"] for t in tasks if not interface.validate_task(t)]
    if bad:
        raise ValueError(f"Label Studio rejects tasks {bad[:5]}")

    def fill(folder: Path) -> None:
        write_text_atomic(folder / "labelstudio" / "config.xml", config)
        write_json_atomic(folder / "labelstudio" / "tasks.json", tasks)
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        writer.writerow([*ITEM_COLUMNS, "rater", *CRITERIA])
        writer.writerows([*(item[k] for k in ITEM_COLUMNS), "", *[""] * len(CRITERIA)] for item in items)
        write_text_atomic(folder / "ratings.csv", buffer.getvalue())
        write_json_atomic(folder / "key" / "key.json", {
            "systems": {codes[n]: n for n in names},
            "items": {it["item_id"]: {"system": it["system_name"], "code": it["system"], "record_id": it["record_id"],
                                      "task": it["task"]} for it in items}})
        write_text_atomic(folder / "key" / "items.jsonl", "".join(
            json.dumps({"item_id": it["item_id"], **item_metrics(it)}) + "\n" for it in items))

    write_dir_atomic(cfg.out_dir, fill)
    return {name: sum(it["system_name"] == name for it in items) for name in names}
