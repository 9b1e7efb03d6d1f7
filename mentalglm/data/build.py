"""`mentalglm data build`: raw sources -> scrubbed, deduplicated, leak-free unified records + stats.json.

Steps, in order: read and validate every row of every file (strict: the first bad row aborts before anything
is written; `on_bad_row: skip` records it instead) -> scrub PII -> drop train/val posts equal (under
`overlap.post_key`) or near (MinHash-verified Jaccard) to a post of any test split of any task -> drop
duplicates within a task (test, then val, then train keep precedence) ->
carve a stratified val split for sources without one -> write train/val/test.jsonl, stats.json and the Hugging
Face export into a temporary folder beside `out_dir`, swapped in whole once complete (a failure at any step leaves
the earlier build as it was). Every text passes `mentalglm.data.post_rules` (control characters, length cap).
"""

from __future__ import annotations

import logging
import os
import random
from collections import Counter, defaultdict
from pathlib import Path

from tqdm import tqdm

from mentalglm.config.schema import DataBuildConfig, SourceConfig
from mentalglm.data.formats import RawRow, RowError, reader_for
from mentalglm.data.hf_dataset import CARD, HF_DIR, write_hf_dataset
from mentalglm.errors import ConfigError, DataError
from mentalglm.runs.files import write_dir_atomic, write_json_atomic, write_jsonl_atomic
from mentalglm.data.overlap import SHINGLE, NearDuplicateIndex, post_key
from mentalglm.data.post_rules import over_length, remove_control_characters
from mentalglm.data.records import SPLITS, Record
from mentalglm.data.scrub import scrub_pii
from mentalglm.tasks import IMHI_TASK, TASKS, render_instruction, render_response

log = logging.getLogger(__name__)


class _Stats:
    def __init__(self) -> None:
        self.files: dict[str, dict] = {}
        self.skipped: list[dict] = []
        self.pii: Counter[str] = Counter()
        self.duplicates: dict[str, Counter[str]] = defaultdict(Counter)
        self.test_overlap: dict[str, Counter[str]] = defaultdict(Counter)
        self.test_near: dict[str, Counter[str]] = defaultdict(Counter)
        self.val_carved: Counter[str] = Counter()
        self.before_carve: dict[str, Counter[str]] = defaultdict(Counter)
        self.controls: Counter[str] = Counter()  # fields and characters of control characters removed
        self.over_max = 0


def _without_controls(row: RawRow, stats: _Stats) -> None:
    for name in ("post", "explanation", "instruction", "response"):
        text = getattr(row, name)
        if text:
            cleaned, removed = remove_control_characters(text)
            if removed:
                setattr(row, name, cleaned)
                stats.controls.update(fields=1, characters=removed)


def _to_record(row: RawRow, source: SourceConfig, split: str, stats: _Stats) -> Record:
    task = row.task or source.task
    _without_controls(row, stats)
    post, counts = scrub_pii(row.post)
    stats.pii.update(counts)
    explanation = None
    if row.explanation:
        explanation, counts = scrub_pii(row.explanation)
        stats.pii.update(counts)
    if task == IMHI_TASK:
        instruction, c1 = scrub_pii(row.instruction or "")
        response, c2 = scrub_pii(row.response or "")
        stats.pii.update(c1 + c2)
    else:
        instruction = render_instruction(task, post)
        response = render_response(task, row.labels, explanation)
    return Record(id=f"{source.name}-{split}-{row.line:06d}", task=task, source=source.name,
                  split=split, post=post, labels=list(row.labels), explanation=explanation,
                  instruction=instruction, response=response)


def _read_source(source: SourceConfig, cfg: DataBuildConfig, stats: _Stats) -> dict[str, list[Record]]:
    out: dict[str, list[Record]] = {}
    for split, path in source.splits.items():
        if split not in cfg.splits:  # e.g. a mirror of training parts only: its test files are not there
            continue
        rows = list(reader_for(source.format, source.task)(Path(path)))
        show = len(rows) >= cfg.progress_min_rows
        records, skipped = [], 0
        for row in tqdm(rows, desc=f"{source.name}/{split}", unit="row", disable=not show, leave=False):
            too_long = isinstance(row, RawRow) and over_length({"post": row.post, "instruction": row.instruction},
                                                               cfg.max_post_chars)
            if too_long:
                stats.over_max += 1
                row = RowError(row.line, too_long, "post")
            if isinstance(row, RowError):
                if cfg.on_bad_row == "error":
                    raise DataError(path, row.line, row.reason, row.column)
                stats.skipped.append({"file": str(path), "line": row.line, "column": row.column,
                                      "reason": row.reason})
                skipped += 1
            else:
                records.append(_to_record(row, source, split, stats))
        if not records:
            empty = f"no rows left ({skipped} skipped as malformed)" if rows else "no rows (a header and nothing else)"
            raise DataError(path, None, f"{empty}; a source split must hold at least one row")
        stats.files[f"{source.name}/{split}"] = {"path": str(path), "rows_read": len(rows),
                                                 "rows_kept": len(records), "rows_skipped": skipped}
        log.info("%s/%s: %d rows read, %d kept, %d skipped", source.name, split, len(rows), len(records), skipped)
        out[split] = records
    return out


def _stratum(record: Record, label_freq: Counter[str]) -> str:
    # Multi-label posts are stratified by their rarest label, so rare labels reach val too.
    return min(record.labels, key=lambda lab: (label_freq[lab], lab)) if record.labels else ""


def carve_val(train: list[Record], fraction: float, seed: int, source: str) -> tuple[list[Record], list[Record]]:
    """Split `train` into (train, val), taking `fraction` of every label stratum into val.

    Deterministic for a given seed and input order.
    """
    if fraction <= 0 or not train:
        return train, []
    label_freq = Counter(lab for r in train for lab in r.labels)
    strata: dict[str, list[int]] = defaultdict(list)
    for i, record in enumerate(train):
        strata[_stratum(record, label_freq)].append(i)
    # Largest-remainder allocation: the val size is round(N * fraction) overall, shared out by stratum size,
    # so small strata still add up instead of each rounding down to zero.
    rng = random.Random(f"{seed}/{source}")
    names = sorted(strata)
    quota = {name: int(len(strata[name]) * fraction) for name in names}
    remainders = sorted(names, key=lambda n: (-(len(strata[n]) * fraction - quota[n]), rng.random()))
    for name in remainders[: int(round(len(train) * fraction)) - sum(quota.values())]:
        quota[name] += 1
    val_idx: set[int] = set()
    for name in names:
        members = strata[name]
        random.Random(f"{seed}/{source}/{name}").shuffle(members)
        val_idx.update(members[: quota[name]])
    keep, val = [], []
    for i, record in enumerate(train):
        if i in val_idx:
            record.split = "val"
            val.append(record)
        else:
            keep.append(record)
    return keep, val


def _label_counts(records: list[Record]) -> dict:
    out: dict[str, dict] = {}
    for r in records:
        entry = out.setdefault(r.task, {"total": 0, "labels": Counter()})
        entry["total"] += 1
        entry["labels"].update(r.labels)
    def ordered(task: str, counts: Counter[str]) -> dict[str, int]:
        order = TASKS[task].labels if task in TASKS else sorted(counts)
        return {lab: counts[lab] for lab in order if counts[lab]}

    return {task: {"total": e["total"], "labels": ordered(task, e["labels"])} for task, e in out.items()}


def _drop_test_overlap_and_duplicates(cfg: DataBuildConfig, by_source: dict[str, dict[str, list[Record]]],
                                      stats: _Stats) -> None:
    """Remove from every train/val split each post whose key equals a test post's (exact) or whose shingles are
    near a test post's (`near_duplicate_jaccard`); then duplicates within a task (test, val, train keep
    precedence, in that order)."""
    test_posts = [r.post for parts in by_source.values() for r in parts.get("test", [])]
    test_keys = {post_key(p) for p in test_posts}
    near_index = (NearDuplicateIndex(sorted(test_keys), cfg.near_duplicate_jaccard)
                  if test_keys and cfg.near_duplicate_jaccard is not None else None)
    seen: dict[str, set[str]] = defaultdict(set)  # task -> post keys already kept
    for split in ("test", "val", "train"):
        for source in cfg.sources:
            if split not in by_source[source.name]:
                continue
            records = by_source[source.name][split]
            keys = [post_key(r.post) for r in records]
            near = (near_index.first_matches(keys) if near_index is not None and split != "test"
                    else [None] * len(records))
            kept = []
            for r, key, near_hit in zip(records, keys, near):
                if split != "test" and key in test_keys:
                    stats.test_overlap[r.task][split] += 1
                elif near_hit is not None:
                    stats.test_near[r.task][split] += 1
                elif key in seen[r.task]:
                    stats.duplicates[r.task][split] += 1
                else:
                    seen[r.task].add(key)
                    kept.append(r)
            by_source[source.name][split] = kept


BUILD_ENTRIES = {f"{split}.jsonl" for split in SPLITS} | {"stats.json", HF_DIR, CARD}


def check_out_dir(out_dir: Path) -> None:
    """Refuse an `out_dir` a build cannot replace whole: one that cannot be created, or that holds anything a build
    does not write (the whole folder is swapped for the new build, so those files would be lost).

    Raises:
        ConfigError: naming `out_dir`, the path and why.
    """
    existing = next((p for p in (out_dir, *out_dir.parents) if p.exists() or p.is_symlink()), None)
    if existing is not None and not existing.is_dir():
        raise ConfigError(f"out_dir: cannot create {out_dir}: {existing} is not a folder")
    if existing is not None and not os.access(existing, os.W_OK | os.X_OK):
        raise ConfigError(f"out_dir: cannot create {out_dir}: {existing} is not writable")
    foreign = sorted(p.name for p in out_dir.iterdir() if p.name not in BUILD_ENTRIES) if out_dir.is_dir() else []
    if foreign:
        raise ConfigError(f"out_dir: {out_dir} holds files a data build does not write ({', '.join(foreign[:5])}"
                          f"{', …' if len(foreign) > 5 else ''}); a build replaces the whole folder, so give an "
                          "empty folder or an earlier build's")


def build_dataset(cfg: DataBuildConfig) -> dict:
    """Run the data build of `cfg` and return the stats written to `{out_dir}/stats.json`.

    Raises:
        DataError: a missing or undecodable file, a bad header, or (with `on_bad_row: error`) a malformed
            row; nothing is written then.
    """
    check_out_dir(Path(cfg.out_dir))
    stats = _Stats()
    by_source = {s.name: _read_source(s, cfg, stats) for s in cfg.sources}

    _drop_test_overlap_and_duplicates(cfg, by_source, stats)

    for source in cfg.sources:
        parts = by_source[source.name]
        for split, records in parts.items():
            for r in records:
                stats.before_carve[r.task][split] += 1
        if "val" not in parts and "train" in parts:  # no val file read (none given, or not in cfg.splits)
            parts["train"], parts["val"] = carve_val(parts["train"], cfg.val_fraction, cfg.seed, source.name)
            stats.val_carved.update(r.task for r in parts["val"])

    outputs = {split: [r for s in cfg.sources for r in by_source[s.name].get(split, [])] for split in SPLITS}
    report = {
        "counts": {split: _label_counts(recs) for split, recs in outputs.items() if recs},
        "before_val_carve": {t: dict(c) for t, c in stats.before_carve.items()},
        "val_carved": dict(stats.val_carved),
        "duplicates_removed": {t: dict(c) for t, c in stats.duplicates.items()},
        "test_overlap_removed": {t: dict(c) for t, c in stats.test_overlap.items()},
        "test_near_duplicates_removed": {t: dict(c) for t, c in stats.test_near.items()},
        "near_duplicate_rule": {"shingle_chars": SHINGLE, "jaccard_at_least": cfg.near_duplicate_jaccard},
        "pii_replacements": dict(sorted(stats.pii.items())),
        "post_rules": {"max_post_chars": cfg.max_post_chars, "control_characters_removed": {
            "fields": stats.controls["fields"], "characters": stats.controls["characters"]},
            "posts_over_max": stats.over_max},
        "skipped_rows": stats.skipped,
        "files": stats.files,
        "config": cfg.model_dump(mode="json"),
    }
    out_dir = Path(cfg.out_dir)

    def fill(folder: Path) -> None:
        for split, records in outputs.items():
            if records:
                write_jsonl_atomic(folder / f"{split}.jsonl", (r.to_dict() for r in records))
        write_json_atomic(folder / "stats.json", report)
        write_hf_dataset(folder, outputs, report)

    try:
        write_dir_atomic(out_dir, fill)
    except OSError as exc:
        raise DataError(out_dir, None, f"the build could not be written ({exc}); the folder is as it was") from None
    for split, recs in outputs.items():
        if recs:
            log.info("wrote %s/%s.jsonl: %s", out_dir, split, {t: c["total"] for t, c in report["counts"][split].items()})
    log.info("removed %d duplicates, %d posts equal to a test post and %d near one; %d PII replacements; "
             "%d rows skipped", sum(sum(c.values()) for c in stats.duplicates.values()),
             sum(sum(c.values()) for c in stats.test_overlap.values()),
             sum(sum(c.values()) for c in stats.test_near.values()), sum(stats.pii.values()), len(stats.skipped))
    return report
