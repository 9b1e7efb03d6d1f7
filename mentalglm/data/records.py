"""The unified record (INTERFACE.md) and loading of built splits."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from mentalglm.data.io import DataError, read_jsonl

SPLITS = ("train", "val", "test")


@dataclass
class Record:
    """One example: a post of one task with its labels, explanation and rendered instruction/response."""

    id: str
    task: str
    source: str
    split: str
    post: str
    labels: list[str]
    explanation: str | None
    instruction: str
    response: str

    def to_dict(self) -> dict:
        """The record as the JSON object written to `{split}.jsonl`."""
        return {name: getattr(self, name) for name in _FIELDS}


_FIELDS = tuple(Record.__dataclass_fields__)


def _is_text(value: object) -> bool:
    return isinstance(value, str)


_FIELD_CHECKS = {"labels": lambda v: isinstance(v, list) and all(isinstance(x, str) for x in v),
                 "explanation": lambda v: v is None or isinstance(v, str)}


def load_split(data_dir: str | Path, split: str, tasks: list[str] | None = None) -> list[Record]:
    """Load `{data_dir}/{split}.jsonl`, keeping records of `tasks` (all when None).

    Raises:
        DataError: the file is missing, or a line is not a complete record or has a field of the wrong type.
    """
    path = Path(data_dir) / f"{split}.jsonl"
    records = []
    for lineno, obj in enumerate(read_jsonl(path), start=1):
        missing = [f for f in _FIELDS if f not in obj]
        if missing:
            raise DataError(path, lineno, f"record lacks field(s) {missing}")
        wrong = [f for f in _FIELDS if not _FIELD_CHECKS.get(f, _is_text)(obj[f])]
        if wrong:
            raise DataError(path, lineno, f"field(s) {wrong} of the wrong type (text; labels a list of text; "
                            "explanation text or null)")
        if tasks is None or obj["task"] in tasks:
            records.append(Record(**{f: obj[f] for f in _FIELDS}))
    return records
