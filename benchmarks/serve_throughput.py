"""Serving throughput: dynamic batching on vs off, requests/s, p50 latency and CPU time per request, interleaved.

    python benchmarks/serve_throughput.py [--preset small] [--concurrency 1 16] [--tokens 32] [--batch 16]

Both services run at once on the local cluster the project starts, the same random-weight preset through the real
stack (Ray Serve HTTP proxy, FastAPI ingress, the replica's `Batcher`), one replica each with all of this machine's
threads: "on" is `max_batch_size: --batch`, "off" is `max_batch_size: 1`, at route prefixes /on and /off. At each
concurrency they take turns in short rounds (benchmarks/ab_rounds.py: A B B A ...), each round sending
`--per-round` x max(concurrency, 4) requests of the data's val split to /v1/chat/completions with max_tokens =
min_tokens = --tokens, so every answer has the same length on both sides. Per pair of rounds: the ratio of
requests/s and of p50 latency (on against off), and of CPU seconds per request of the whole process tree (this
process with its client threads, Ray's daemons, the proxy, the controller and both replicas: the idle one costs
little). The targets (batching on >= 0.95 x off at one client, >= 4 x at 16) use the wall-clock ratios: what a client
waits for; the CPU ratio is printed beside them.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))

from ab_rounds import ProcessTree, Ratio, compare, interleave, side_table  # noqa: E402
from train_throughput import prepare  # noqa: E402


def _post(url: str, instruction: str, tokens: int) -> float:
    body = json.dumps({"messages": [{"role": "user", "content": instruction}], "max_tokens": tokens,
                       "min_tokens": tokens}).encode("utf-8")
    request = urllib.request.Request(url + "/v1/chat/completions", data=body,
                                     headers={"Content-Type": "application/json"})
    start = time.perf_counter()
    with urllib.request.urlopen(request, timeout=600) as response:
        assert response.status == 200
        response.read()
    return time.perf_counter() - start


def one_round(url: str, prompts: list[str], concurrency: int, tokens: int, latencies: list[float]) -> float:
    """Send `prompts` `concurrency` at a time; append their latencies; return how many were answered."""
    with ThreadPoolExecutor(concurrency) as pool:
        latencies.extend(pool.map(lambda p: _post(url, p, tokens), prompts))
    return len(prompts)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="small", choices=["tiny", "small", "glm4-0414"])
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 16])
    parser.add_argument("--tokens", type=int, default=32)
    parser.add_argument("--batch", type=int, default=16, help="max_batch_size when batching is on")
    parser.add_argument("--rounds", type=int, default=5, help="rounds per side and concurrency")
    parser.add_argument("--per-round", type=int, default=2, help="requests per round = this x max(concurrency, 4)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--wait", type=float, default=None,
                        help="serve.batch_wait_timeout_s of the batching side (default: configs/serve/local.yaml's)")
    args = parser.parse_args()

    from ray import serve

    import ray
    from mentalglm.config import load_config
    from mentalglm.config.schema import RaySection
    from mentalglm.config.serve import ServeConfig
    from mentalglm.data.records import load_split
    from mentalglm.cluster.connect import ensure_ray
    from mentalglm.serve.service import start_service
    from mentalglm.serve.smoke import free_port

    results: dict[int, dict] = {}
    with tempfile.TemporaryDirectory(prefix="mentalglm-bench-") as tmp:
        data_name, data_dir, model_dir = prepare(Path(tmp), args.preset)
        val = load_split(data_dir, "val")
        instructions = [r.instruction for r in val[:: max(1, len(val) // 64)][:64]]
        # two replicas of `threads` logical CPUs each; they share the physical ones and take turns
        ensure_ray(RaySection(num_cpus=2 * args.threads))
        port, urls = free_port(), {}
        try:
            for label, batch in (("on", args.batch), ("off", 1)):
                cfg = load_config(ServeConfig, REPO / "configs/serve/local.yaml", [
                    f"model.name_or_path={model_dir}", f"data.dir={data_dir}", f"serve.port={port}",
                    f"serve.app_name=bench-{label}", f"serve.route_prefix=/{label}", f"serve.max_batch_size={batch}",
                    "serve.max_ongoing_requests=64", "serve.max_queued_requests=256",
                    f"serve.cpus_per_replica={args.threads}", f"serve.torch_threads={args.threads}",
                    "serve.request_timeout_s=600",
                    *([f"serve.batch_wait_timeout_s={args.wait}"] if args.wait is not None and batch > 1 else [])])
                urls[label] = start_service(cfg)
                _post(urls[label], instructions[0], 4)  # warm up
            tree = ProcessTree()
            for c in args.concurrency:
                n = args.per_round * max(c, 4)
                latencies: dict[str, list[float]] = {"on": [], "off": []}
                p50s: dict[str, list[float]] = {"on": [], "off": []}

                def side(label: str):
                    def run() -> float:
                        mine: list[float] = []
                        done = one_round(urls[label], [instructions[i % len(instructions)] for i in range(n)], c,
                                         args.tokens, mine)
                        latencies[label].extend(mine)
                        p50s[label].append(statistics.median(mine))
                        return done
                    return run, tree

                rounds = interleave({"batching on": side("on"), "batching off": side("off")}, args.rounds)
                wall, cpu = compare(rounds, "batching off", "batching on")
                p50 = Ratio.of([off / on for on, off in zip(p50s["on"], p50s["off"])])
                results[c] = {"rounds": rounds, "wall": wall, "cpu": cpu, "p50": p50,
                              "p50_ms": {k: statistics.median(v) * 1000 for k, v in latencies.items()}}
        finally:
            serve.shutdown()
            ray.shutdown()

    print(f"model preset: {args.preset}, data: {data_name} val, {args.tokens} tokens per answer, 1 replica x "
          f"{args.threads} threads per side, batching on = max_batch_size {args.batch}, {args.rounds} rounds per side")
    for c, r in results.items():
        print(f"\n--- {c} client(s) ---")
        print(side_table(r["rounds"], "requests", per=1))
        print(f"p50 latency: on {r['p50_ms']['on']:.0f} ms, off {r['p50_ms']['off']:.0f} ms")
        target = ">= 0.95" if c == 1 else ">= 4" if c >= 16 else "-"
        print(f"on / off, requests/s:            {r['wall']}   (target {target}: this ratio)")
        print(f"off / on, p50 latency:           {r['p50']}   (target {target if c == 1 else '-'})")
        print(f"on / off, CPU time per request:  {r['cpu']}")
    print("where the CPU went (both sides, every concurrency):\n" + tree.breakdown(10))


if __name__ == "__main__":
    main()
