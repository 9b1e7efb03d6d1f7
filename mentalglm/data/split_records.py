"""A built split's records read through `datasets`: memory-mapped Arrow, a `Record` made only when one is read.

`split_records(data_dir, "test", tasks)` opens `{data_dir}/hf/{task}/test.parquet` for each task (in name order)
with `datasets`, which converts the Parquet once into Arrow files under the local cache (`MENTALGLM_CACHE`,
default ~/.cache/mentalglm/datasets) and maps them; `len`, indexing and slicing read rows from the mapped files.
Evaluation and the baseline read their records this way, so a split of millions of posts is not held as Python
objects; only the chunk being answered is.
"""

from __future__ import annotations

import os
import random
from collections import Counter
from pathlib import Path
from typing import Any, Iterator, Sequence

from mentalglm.data.hf_dataset import HF_DIR
from mentalglm.errors import DataError
from mentalglm.data.records import Record
from mentalglm.tasks import SCORED_TASKS


def datasets_cache_dir() -> Path:
    """Where `datasets` keeps the Arrow files the project maps (`$MENTALGLM_CACHE/datasets`)."""
    return Path(os.environ.get("MENTALGLM_CACHE", Path.home() / ".cache" / "mentalglm")) / "datasets"


def parquet_files(data_dir: str | Path, split: str, tasks: Sequence[str] | None) -> list[Path]:
    """The build's Parquet files of `split` for `tasks` (all when None), in task-name order.

    Raises:
        DataError: naming the folder, when the build wrote none (a data folder from an older build: rebuild it).
    """
    root = Path(data_dir) / HF_DIR
    files = sorted(p for p in root.glob(f"*/{split}.parquet") if tasks is None or p.parent.name in tasks)
    if not files:
        raise DataError(root, None, f"no {split}.parquet under it for tasks {list(tasks) if tasks else 'any'}; "
                                    "build the data with `mentalglm data build` (it writes the Parquet read here)")
    return files


class SplitRecords(Sequence[Record]):
    """The records of one split over several tasks' Arrow datasets, task after task.

    Indexing gives a `Record` (labels as names); a slice gives a list of them. `first(n)` keeps the first n.
    """

    def __init__(self, split: str, parts: list[tuple[str, Any]]):
        self.split = split
        self._parts = [(task, ds, _label_names(ds)) for task, ds in parts if len(ds)]
        self._starts, total = [], 0
        for _, ds, _ in self._parts:
            self._starts.append(total)
            total += len(ds)
        self._len = total

    def __len__(self) -> int:
        return self._len

    def __getitem__(self, index):  # type: ignore[override]
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self)))]
        index = int(index)
        if index < 0:
            index += len(self)
        if not 0 <= index < len(self):
            raise IndexError(index)
        part = max(i for i, start in enumerate(self._starts) if start <= index)
        task, ds, names = self._parts[part]
        row = ds[index - self._starts[part]]
        labels = [names[i] for i in row["labels"]] if names else list(row["labels"])
        return Record(row["id"], task, row["source"], self.split, row["post"], labels, row["explanation"],
                      row["instruction"], row["response"])

    def __iter__(self) -> Iterator[Record]:
        for i in range(len(self)):
            yield self[i]

    @property
    def tasks(self) -> list[str]:
        """The tasks that have records here, in order."""
        return [task for task, _, _ in self._parts]

    def only(self, tasks: Sequence[str]) -> SplitRecords:
        """The records of `tasks` among these, still memory-mapped."""
        return SplitRecords(self.split, [(task, ds) for task, ds, _ in self._parts if task in tasks])

    def evenly_spaced(self, size: int | None) -> Sequence[Record]:
        """A fixed subset of at most `size` records: each task gets its share of `size` (at least one record while
        `size` allows), taken evenly spaced over that task's records. All of them when `size` is None or larger."""
        if not size or size >= len(self):
            return self
        counts = [len(ds) for _, ds, _ in self._parts]
        quotas = [min(c, 1) if size >= len(counts) else 0 for c in counts]
        exact = [size * c / len(self) for c in counts]
        while sum(quotas) < size:  # then by the largest shortfall against the exact share
            gaps = [(exact[i] - quotas[i] if quotas[i] < counts[i] else float("-inf"), -i) for i in range(len(counts))]
            quotas[-max(gaps)[1]] += 1
        out = []
        for start, count, quota in zip(self._starts, counts, quotas):
            out += [self[start + (2 * k + 1) * count // (2 * quota)] for k in range(quota)]
        return out

    def stratified(self, n: int, seed: int = 0) -> SplitRecords:
        """A seeded sample of `n` records, stratified by task and label: each stratum (a task and its label; a
        multi-label record by its rarest label) gets its share of `n` by size, at least one while `n` allows, drawn
        at random (`seed`); kept in the split's order, still memory-mapped. All of them when `n` is larger."""
        if n >= len(self):
            return self
        strata: dict[tuple[int, str], list[int]] = {}
        for p, (_, ds, _) in enumerate(self._parts):
            rows = ds["labels"]
            counts = Counter(label for labels in rows for label in labels)
            for i, labels in enumerate(rows):
                key = min(labels, key=lambda lab: (counts[lab], lab)) if labels else -1
                strata.setdefault((p, str(key)), []).append(i)
        keys = sorted(strata)
        quotas = {k: 1 if n >= len(keys) else 0 for k in keys}
        while sum(quotas.values()) < n:  # the rest by the largest shortfall against the exact share
            open_keys = [k for k in keys if quotas[k] < len(strata[k])]
            quotas[max(open_keys, key=lambda k: n * len(strata[k]) / len(self) - quotas[k])] += 1
        rng = random.Random(seed)
        chosen: dict[int, list[int]] = {}
        for key in keys:
            chosen.setdefault(key[0], []).extend(rng.sample(strata[key], quotas[key]))
        return SplitRecords(self.split, [(task, ds.select(sorted(chosen.get(p, []))))
                                         for p, (task, ds, _) in enumerate(self._parts)])

    def first(self, n: int) -> SplitRecords:
        """The first `n` records (in task order), still memory-mapped."""
        parts, left = [], n
        for task, ds, _ in self._parts:
            if left <= 0:
                break
            parts.append((task, ds.select(range(min(left, len(ds))))))
            left -= len(ds)
        return SplitRecords(self.split, parts)


def _label_names(ds: Any) -> list[str] | None:
    feature = getattr(ds.features["labels"], "feature", None)
    return list(feature.names) if hasattr(feature, "names") else None


def split_records(data_dir: str | Path, split: str, tasks: Sequence[str] | None = None) -> SplitRecords:
    """The records of `split` for `tasks` (all when None; scored and unscored tasks alike), memory-mapped.

    Raises:
        DataError: the build wrote no Parquet for this split and these tasks.
    """
    from datasets import Dataset

    parts = []
    for path in parquet_files(data_dir, split, tasks):
        task = path.parent.name
        ds = Dataset.from_parquet(str(path), cache_dir=str(datasets_cache_dir() / "parquet"))
        if task in SCORED_TASKS and not hasattr(getattr(ds.features["labels"], "feature", None), "names"):
            raise DataError(path, None, "labels are not class labels; rebuild the data with `mentalglm data build`")
        parts.append((task, ds))
    return SplitRecords(split, parts)
