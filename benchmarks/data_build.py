"""How `data build` scales: time and peak memory per row at a base size and at k times it, in one process.

Rows are taken from the given SOS-4K-format files (default: the project's sample) and repeated with a distinct
suffix per copy, so every row survives deduplication; every tenth row goes to a test split, so leak removal and the
near-duplicate index do their full work. A linear step shows a time-per-row ratio near 1.0 between the sizes. The
two sizes take turns in rounds (benchmarks/ab_rounds.py: A B B A ...); per pair of rounds the ratio of time per row
(wall clock: the target, near 1.0, uses it) and of the CPU seconds per row of this process and any it starts, as median with min-max.

    python benchmarks/data_build.py --rows 20000 --factor 4
    python benchmarks/data_build.py --source /path/to/sos_4k/train.tsv --rows 127000 --factor 1
"""

from __future__ import annotations

import argparse
import resource
import sys
import tempfile
from pathlib import Path

from mentalglm.config import DataBuildConfig
from mentalglm.data.build import build_dataset

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))

from ab_rounds import ProcessTree, compare, interleave, side_table  # noqa: E402


def _rows(sources: list[Path]) -> list[tuple[str, str, str]]:
    out = []
    for path in sources:
        for line in path.read_text(encoding="utf-8").splitlines()[1:]:
            fields = line.split("\t")
            if len(fields) == 3:
                out.append((fields[0], fields[1], fields[2]))
    return out


def _write(rows: list[tuple[str, str, str]], n: int, folder: Path) -> tuple[Path, Path]:
    header = "comment\tmyLabel\texplain\n"
    train, test = [header], [header]
    for i in range(n):
        post, level, explain = rows[i % len(rows)]
        line = f"{post}（第{i}条）\t{level}\t{explain}\n"
        (test if i % 10 == 0 else train).append(line)
    (folder / "train.tsv").write_text("".join(train), encoding="utf-8")
    (folder / "test.tsv").write_text("".join(test), encoding="utf-8")
    return folder / "train.tsv", folder / "test.tsv"


def _run(rows: list[tuple[str, str, str]], n: int) -> int:
    """Build `n` rows; return n (the round's work)."""
    with tempfile.TemporaryDirectory() as tmp:
        train, test = _write(rows, n, Path(tmp))
        cfg = DataBuildConfig(out_dir=Path(tmp) / "out", val_fraction=0.1, progress_min_rows=10**9, sources=[
            {"name": "bench", "format": "sos_4k", "splits": {"train": train, "test": test}}])
        build_dataset(cfg)
    return n


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", type=Path, nargs="+",
                        default=[REPO / "sample_data/sos_4k/train.tsv", REPO / "sample_data/sos_4k/val.tsv"])
    parser.add_argument("--rows", type=int, default=20000, help="rows at the base size")
    parser.add_argument("--factor", type=int, default=4, help="the larger size is this many times the base")
    parser.add_argument("--rounds", type=int, default=5, help="rounds per size")
    args = parser.parse_args()
    rows = _rows(args.source)
    _run(rows, 1000)  # warm up (imports, jieba's dictionary)
    base, big = f"{args.rows} rows", f"{args.rows * args.factor} rows"
    rounds = interleave({base: ((lambda: _run(rows, args.rows)), ProcessTree()),
                         big: ((lambda: _run(rows, args.rows * args.factor)), ProcessTree())}, args.rounds)
    wall, cpu = compare(rounds, big, base)
    print(side_table(rounds, "rows"))
    print(f"peak RSS of this process (the {args.factor}x build included): "
          f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")
    print(f"time per row, {args.factor}x size / base: {wall}   (1.0 = linear; the target uses this ratio)")
    print(f"CPU per row,  {args.factor}x size / base: {cpu}")


if __name__ == "__main__":
    main()
