"""Records/s of `mentalglm data explain` against the scripted teacher at concurrency 1, 4 and 16.

The scripted teacher (benchmarks/scripted_teacher.py, real HTTP on 127.0.0.1) answers every request after a fixed
latency, as a remote model would; each run starts from an empty answer cache. If the client is not the bottleneck,
records/s grows with concurrency close to `concurrency / latency`. Printed per run: records/s over the whole command
(Ray Data start included) and over the teacher's busy span (first to last request), and both as ratios against
concurrency 1 in the same process.

    python benchmarks/explain_throughput.py [--records 400] [--latency 0.05]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))

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


def _run(data: Path, folder: Path, concurrency: int, latency: float) -> dict:
    from mentalglm.config import load_config
    from mentalglm.config.explain import ExplainConfig
    from mentalglm.explain.run import run_explain

    workers = 1 if concurrency == 1 else 2
    with ScriptedTeacher(latency_s=latency) as teacher:
        cfg = load_config(ExplainConfig, REPO / "configs/data/explain-vllm.yaml", [
            f"data_dir={data}", f"out_dir={folder / f'out-{concurrency}'}", f"teacher.base_url={teacher.url}",
            "teacher.model=scripted", "teacher.api_key_env=null", "teacher.qps=null",
            f"teacher.concurrency={concurrency}", f"workers={workers}",
            "verify.consistency=false"])
        start = time.perf_counter()
        stats = run_explain(cfg)
        wall = time.perf_counter() - start
        times = teacher.request_times()
    busy = max(times) - min(times) if len(times) > 1 else wall
    n = stats["records"]["asked"]
    return {"concurrency": concurrency, "workers": workers, "records": n, "kept": stats["records"]["kept"],
            "wall_s": wall, "per_s": n / wall, "busy_per_s": n / busy}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=400)
    parser.add_argument("--latency", type=float, default=0.05, help="the teacher's seconds per answer")
    args = parser.parse_args()
    import ray

    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    with tempfile.TemporaryDirectory() as tmp:
        data = _data(Path(tmp), args.records)
        rows = [_run(data, Path(tmp), c, args.latency) for c in (1, 4, 16)]
    ray.shutdown()
    base = rows[0]
    print(f"{args.records} records, teacher latency {args.latency * 1000:.0f} ms; ideal records/s = concurrency / "
          "latency")
    print("| concurrency | workers | kept | wall s | records/s | x conc. 1 | teacher-busy records/s | x conc. 1 | ideal |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['concurrency']} | {r['workers']} | {r['kept']} | {r['wall_s']:.1f} | {r['per_s']:.1f} | "
              f"{r['per_s'] / base['per_s']:.2f} | {r['busy_per_s']:.1f} | {r['busy_per_s'] / base['busy_per_s']:.2f} "
              f"| {r['concurrency'] / args.latency:.0f} |")


if __name__ == "__main__":
    main()
