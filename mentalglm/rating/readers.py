"""Ratings in the forms they come back in, as one list of `Rating`s.

- Label Studio JSON export (a list of tasks, each with `annotations` whose `result` holds one choice per criterion;
  cancelled annotations are skipped; the rater is `completed_by`).
- Rater CSVs: filled copies of the export's `ratings.csv` (`item_id`, `rater`, one column per criterion; blank
  cells are unrated).
- MentalLLaMA's released files: `text`, `label`, the answer column, and each criterion as a list of the raters'
  scores (`[3, 3, 2]`); UTF-8 with or without BOM. Each file is one system, items are `{file stem}:{line}`.

Every score must be one of 0-3; anything else is a `DataError` naming the file, line and criterion.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass
from pathlib import Path

from mentalglm.data.io import DataError, read_text
from mentalglm.tasks.rubric import CRITERIA, SCORES


@dataclass(frozen=True)
class Rating:
    """One rater's score of one item on one criterion."""

    item: str
    system: str
    criterion: str
    rater: str
    score: int


def _score(value: str, path: Path, line: int, criterion: str) -> int:
    text = str(value).strip()
    if text not in {str(s) for s in SCORES}:
        raise DataError(path, line, f"score {text!r} is not one of 0-3", criterion)
    return int(text)


def _system(key: dict | None, item: str, path: Path, line: int) -> str:
    if key is None:
        raise DataError(path, line, "ratings by item id need the export's key (rate import: key=…/key)")
    try:
        return key["items"][item]["system"]
    except KeyError:
        raise DataError(path, line, f"item {item!r} is not in the key") from None


def load_key(folder: str | Path) -> dict:
    """The export's key (`key/key.json`)."""
    return json.loads((Path(folder) / "key.json").read_text(encoding="utf-8"))


def read_labelstudio(path: str | Path, key: dict | None) -> list[Rating]:
    """Ratings from a Label Studio JSON export."""
    path = Path(path)
    text, _ = read_text(path)
    try:
        tasks = json.loads(text)
    except ValueError as exc:
        raise DataError(path, None, f"not JSON ({exc})") from None
    out = []
    for n, task in enumerate(tasks, start=1):
        item = task.get("data", {}).get("item_id")
        if not item:
            raise DataError(path, None, f"task {n} has no data.item_id")
        system = _system(key, item, path, n)
        for annotation in task.get("annotations", []):
            if annotation.get("was_cancelled"):
                continue
            who = annotation.get("completed_by")
            rater = str(who.get("email") or who.get("id")) if isinstance(who, dict) else str(who)
            for result in annotation.get("result", []):
                criterion = result.get("from_name")
                if criterion not in CRITERIA:
                    continue
                (choice,) = result["value"]["choices"]
                out.append(Rating(item, system, criterion, rater, _score(choice, path, n, criterion)))
    return out


def read_rater_csv(path: str | Path, key: dict | None) -> list[Rating]:
    """Ratings from a filled copy of `ratings.csv`."""
    path = Path(path)
    text, _ = read_text(path)
    out = []
    reader = csv.DictReader(io.StringIO(text))
    for row in reader:
        line = reader.line_num
        rater = (row.get("rater") or "").strip()
        scores = {c: row.get(c, "") for c in CRITERIA if (row.get(c) or "").strip()}
        if not scores:
            continue
        if not rater:
            raise DataError(path, line, "scores without a rater name", "rater")
        system = _system(key, row["item_id"], path, line)
        out += [Rating(row["item_id"], system, c, rater, _score(v, path, line, c)) for c, v in scores.items()]
    return out


def read_mentalllama(path: str | Path) -> list[Rating]:
    """Ratings from one of MentalLLaMA's released annotation files."""
    path = Path(path)
    text, _ = read_text(path)  # drops a BOM
    out = []
    reader = csv.DictReader(io.StringIO(text))
    for row in reader:
        line = reader.line_num
        for criterion in CRITERIA:
            try:
                scores = json.loads(row[criterion])
            except (KeyError, TypeError, ValueError):
                raise DataError(path, line, "not a list of scores like [3, 3, 2]", criterion) from None
            if not isinstance(scores, list) or not scores:
                raise DataError(path, line, "not a list of scores like [3, 3, 2]", criterion)
            out += [Rating(f"{path.stem}:{line}", path.stem, criterion, f"r{i + 1}", _score(s, path, line, criterion))
                    for i, s in enumerate(scores)]
    return out
