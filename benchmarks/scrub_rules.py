"""What the PII scrub costs per text, against the scrub of an earlier revision (default HEAD~1), in one process.

The earlier `mentalglm/data/scrub.py` is read with `git show REV:…` and loaded as a module beside the current one;
both scrub the same texts (the project's sample posts, or the given files' lines) in interleaved rounds
(benchmarks/ab_rounds.py). The ratio is the current side's texts per second over the earlier side's (below 1.0: the
current rules are slower by that factor).

    python benchmarks/scrub_rules.py                                   # the sample posts, against HEAD~1
    python benchmarks/scrub_rules.py --base 0253f23 --source data/raw/sos_4k/train.tsv --repeat 3
"""

from __future__ import annotations

import argparse
import importlib.util
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))

from ab_rounds import ProcessTree, compare, interleave, side_table  # noqa: E402


def _earlier_scrub(rev: str):
    source = subprocess.run(["git", "show", f"{rev}:mentalglm/data/scrub.py"], cwd=REPO, check=True,
                            capture_output=True, text=True).stdout
    path = Path(tempfile.mkdtemp()) / "scrub_earlier.py"
    path.write_text(source, encoding="utf-8")
    spec = importlib.util.spec_from_file_location("scrub_earlier", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.scrub_pii


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", default="HEAD~1", help="the revision whose scrub is the baseline")
    parser.add_argument("--source", nargs="*", type=Path, default=sorted((REPO / "sample_data").rglob("*.tsv")))
    parser.add_argument("--repeat", type=int, default=20, help="times each text is scrubbed per round")
    parser.add_argument("--rounds", type=int, default=6)
    args = parser.parse_args()
    from mentalglm.data.scrub import scrub_pii

    texts = [line for path in args.source for line in path.read_text(encoding="utf-8").splitlines()] * args.repeat
    earlier = _earlier_scrub(args.base)
    for scrub in (scrub_pii, earlier):
        scrub("@小明我好累")  # jieba's dictionary loads once, outside the rounds

    def side(scrub):
        def run() -> float:
            for text in texts:
                scrub(text)
            return len(texts)
        return run, ProcessTree(tree=False)

    rounds = interleave({f"scrub at {args.base}": side(earlier), "scrub now": side(scrub_pii)}, args.rounds)
    print(side_table(rounds, "texts"))
    wall, cpu = compare(rounds, f"scrub at {args.base}", "scrub now")
    print(f"texts/s now over {args.base}: {wall}; CPU per text, {args.base} over now: {cpu}")


if __name__ == "__main__":
    main()
