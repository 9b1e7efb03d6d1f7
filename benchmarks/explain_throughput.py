"""Records/s of `mentalglm data explain` against the scripted teacher at concurrency 1, 4 and 16.

The scripted teacher (benchmarks/scripted_teacher.py, real HTTP on 127.0.0.1) answers every request after a fixed
latency, as a remote model would; each run starts from an empty answer cache. If the client is not the bottleneck,
records/s grows with concurrency close to `concurrency / latency`. The three levels take turns in runs
(benchmarks/ab_rounds.py: 1 4 16, 16 4 1, ...); printed: records/s over each whole command (Ray Data start
included) and the CPU seconds per record of this process and every Ray process under it, with the ratios against
concurrency 1 per round as median and min-max (the comparison uses records/s).

    python benchmarks/explain_throughput.py [--records 200] [--latency 0.05] [--rounds 5]
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))

from ab_rounds import ProcessTree, compare, interleave, side_table  # noqa: E402
from scripted_teacher import ScriptedTeacher  # noqa: E402


def _data(folder: Path, n: int) -> Path:
    from mentalglm.config import DataBuildConfig
    from mentalglm.data.build import build_dataset

    source = folder / "records.jsonl"
    with source.open("w", encoding="utf-8") as handle:
        for i in range(n):
            post = f"第{i}条：最近总是睡不好，白天也提不起精神，不知道还能撑多久。"
            labels = ["低自杀风险"] if i % 3 else ["高自杀风险"]
            handle.write(json.dumps({"task": "suicide_risk", "post": post, "labels": labels}, ensure_ascii=False) + "\n")
    out = folder / "built"
    build_dataset(DataBuildConfig(out_dir=out, val_fraction=0.0, near_duplicate_jaccard=None,
                                  sources=[{"name": "bench", "format": "jsonl", "splits": {"train": source}}]))
    return out


def _run(data: Path, out: Path, concurrency: int, latency: float) -> int:
    """One `data explain` run from an empty answer cache; returns the records asked."""
    from mentalglm.config import load_config
    from mentalglm.config.explain import ExplainConfig
    from mentalglm.explain.run import run_explain

    with ScriptedTeacher(latency_s=latency) as teacher:
        cfg = load_config(ExplainConfig, REPO / "configs/data/explain-vllm.yaml", [
            f"data_dir={data}", f"out_dir={out}", f"teacher.base_url={teacher.url}",
            "teacher.model=scripted", "teacher.api_key_env=null", "teacher.qps=null",
            f"teacher.concurrency={concurrency}", f"workers={1 if concurrency == 1 else 2}",
            "verify.consistency=false"])
        stats = run_explain(cfg)
    return stats["records"]["asked"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=200)
    parser.add_argument("--latency", type=float, default=0.05, help="the teacher's seconds per answer")
    parser.add_argument("--rounds", type=int, default=5, help="runs per concurrency")
    args = parser.parse_args()
    import ray

    from mentalglm.config.schema import RaySection
    from mentalglm.cluster.connect import ensure_ray

    ensure_ray(RaySection(num_cpus=2))
    levels = (1, 4, 16)
    with tempfile.TemporaryDirectory() as tmp:
        data = _data(Path(tmp), args.records)
        runs = itertools.count()

        def side(c: int):
            return (lambda: _run(data, Path(tmp) / f"out-{c}-{next(runs)}", c, args.latency)), ProcessTree()

        rounds = interleave({f"concurrency {c}": side(c) for c in levels}, args.rounds)
    ray.shutdown()
    print(f"{args.records} records per run, teacher latency {args.latency * 1000:.0f} ms, {args.rounds} runs per "
          "concurrency (Ray Data start included); ideal records/s = concurrency / latency")
    print(side_table(rounds, "records"))
    for c in levels[1:]:
        wall, cpu = compare(rounds, "concurrency 1", f"concurrency {c}")
        print(f"concurrency {c} / 1, records/s:      {wall}   (the comparison: wall clock; ideal {c})")
        print(f"concurrency {c} / 1, CPU per record: {cpu}")


if __name__ == "__main__":
    main()
