"""Ratings in the forms they come back in, as one list of `Rating`s (Label Studio exports are read by
`mentalglm.rating.labelstudio`).

- Rater CSVs: filled copies of the export's `ratings.csv` (`item_id`, `rater`, one column per criterion; blank
  cells are unrated).
- MentalLLaMA's released files: `text`, `label`, the answer column, and each criterion as a list of the raters'
  scores (`[3, 3, 2]`); UTF-8 with or without BOM. Each file is one system, items are `{file stem}:{line}`.

Every score must be one of 0-3, and a rater scores an item on a criterion once; anything else, and every shape a
file should not have, is a `DataError` naming the file, line and column.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

from mentalglm.data.io import DataError, parse_json, read_text
from mentalglm.tasks.rubric import CRITERIA, SCORES


@dataclass(frozen=True)
class Rating:
    """One rater's score of one item on one criterion."""

    item: str
    system: str
    criterion: str
    rater: str
    score: int


def score_of(value: Any, path: Path, line: int, criterion: str) -> int:
    """The 0-3 score a cell or choice holds.

    Raises:
        DataError: anything else, naming the file, line and criterion.
    """
    text = value.strip() if isinstance(value, str) else value if type(value) is int else None
    if str(text) not in {str(s) for s in SCORES}:
        shown = value if isinstance(value, (str, int)) else type(value).__name__
        raise DataError(path, line, f"score {shown!r} is not one of 0-3", criterion)
    return int(text)


def system_of(key: dict | None, item: str, path: Path, line: int) -> str:
    """The system an item id is blinded for, from the export's key (checked by `load_key`).

    Raises:
        DataError: no key, or an item the key does not hold.
    """
    if key is None:
        raise DataError(path, line, "ratings by item id need the export's key (rate import: key=…/key)")
    if item not in key["items"]:
        raise DataError(path, line, f"item {item!r} is not in the key")
    return key["items"][item]["system"]


def check_unique(found: list[tuple[int, Rating]], path: Path) -> list[Rating]:
    """The ratings of `found` ((line, rating) pairs), each (item, criterion, rater) once.

    Raises:
        DataError: a rater scored the same item on the same criterion twice (naming both lines).
    """
    first: dict[tuple[str, str, str], int] = {}
    for line, r in found:
        key = (r.item, r.criterion, r.rater)
        if key in first:
            raise DataError(path, line, f"item {r.item!r} is rated twice on {r.criterion} by rater {r.rater} "
                            f"(first at line {first[key]})")
        first[key] = line
    return [r for _, r in found]


def load_key(folder: str | Path) -> dict:
    """The export's key (`key/key.json`), checked: `items` maps each item id to an object with its `system`.

    Raises:
        DataError: naming key.json and what is wrong.
    """
    path = Path(folder) / "key.json"
    text, _ = read_text(path)
    key = parse_json(text, path)
    if not isinstance(key, dict) or not isinstance(key.get("items"), dict):
        raise DataError(path, None, "not an export key (no `items` object)")
    for item, entry in key["items"].items():
        if not isinstance(entry, dict) or not isinstance(entry.get("system"), str):
            raise DataError(path, None, f"item {item!r} has no system")
    return key


def _table(path: Path, required: tuple[str, ...]) -> tuple[list[str], Iterator[tuple[int, dict[str, str]]]]:
    """The header (names stripped and lower-cased) and the (line, row) of a CSV written by any spreadsheet:
    comma-, semicolon- or tab-separated, UTF-8 with or without BOM, or GB18030.

    Raises:
        DataError: a required column is missing (naming the header's columns), a row has more fields than the
            header, or the CSV cannot be parsed.
    """
    text, _ = read_text(path)
    first = text.split("\n", 1)[0]
    delimiter = max(",;\t", key=first.count) if first else ","
    rows = csv.reader(io.StringIO(text), delimiter=delimiter)
    try:
        header = [name.strip().lower() for name in next(rows, [])]
    except csv.Error as exc:
        raise DataError(path, 1, f"not a CSV ({exc})") from None
    for column in required:
        if column not in header:
            raise DataError(path, 1, f"no {column} column; the header has: {', '.join(header) or 'nothing'}")

    def read() -> Iterator[tuple[int, dict[str, str]]]:
        try:
            for row in rows:
                if len(row) > len(header):
                    raise DataError(path, rows.line_num, f"{len(row)} fields, the header has {len(header)}")
                if any(cell.strip() for cell in row):
                    yield rows.line_num, dict(zip(header, row))
        except csv.Error as exc:
            raise DataError(path, rows.line_num, f"not a CSV row ({exc})") from None

    return header, read()


def read_rater_csv(path: str | Path, key: dict | None) -> list[Rating]:
    """Ratings from a filled copy of `ratings.csv` (`item_id`, `rater`, one column per criterion; blank cells are
    unrated; headers in any case, any of `,` `;` tab).

    Raises:
        DataError: naming the file, line and column: a missing column, a bad score, scores without a rater, an
            item the key does not hold, the same rating twice.
    """
    path = Path(path)
    header, rows = _table(path, ("item_id", "rater"))
    criteria = [c for c in CRITERIA if c in header]
    if not criteria:
        raise DataError(path, 1, f"no criterion column ({', '.join(CRITERIA)}); the header has: {', '.join(header)}")
    out: list[tuple[int, Rating]] = []
    for line, row in rows:
        rater, item = row.get("rater", "").strip(), row.get("item_id", "").strip()
        scores = {c: row[c] for c in criteria if row.get(c, "").strip()}
        if not scores:
            continue
        if not rater:
            raise DataError(path, line, "scores without a rater name", "rater")
        system = system_of(key, item, path, line)
        out += [(line, Rating(item, system, c, rater, score_of(v, path, line, c))) for c, v in scores.items()]
    return check_unique(out, path)


def read_mentalllama(path: str | Path) -> list[Rating]:
    """Ratings from one of MentalLLaMA's released annotation files (each criterion a list of scores per row).

    Raises:
        DataError: naming the file, line and criterion: a missing column, a cell that is not a list of 0-3 scores.
    """
    path = Path(path)
    _, rows = _table(path, CRITERIA)
    out = []
    for line, row in rows:
        for criterion in CRITERIA:
            try:
                scores = json.loads(row.get(criterion, ""))
            except ValueError:
                scores = None
            if not isinstance(scores, list) or not scores:
                raise DataError(path, line, "not a list of scores like [3, 3, 2]", criterion)
            out += [Rating(f"{path.stem}:{line}", path.stem, criterion, f"r{i + 1}", score_of(s, path, line, criterion))
                    for i, s in enumerate(scores)]
    return out
