"""Serving throughput: requests/s and p50/p95 latency at several concurrencies, dynamic batching on vs off.

    python benchmarks/serve_throughput.py [--preset small] [--concurrency 1 4 16] [--tokens 32] [--batch 16]

Both runs serve the same random-weight GLM-4 preset through the real stack (Ray Serve HTTP proxy, FastAPI
ingress, `@serve.batch`) on one replica with all of this machine's threads; "off" is `max_batch_size: 1`.
Each request is an instruction of the data's val split sent to /v1/chat/completions with
max_tokens = min_tokens = --tokens, so every answer has the same length on both sides.
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


def measure(url: str, instructions: list[str], concurrency: int, requests: int, tokens: int) -> dict:
    """requests/s, p50 and p95 latency (ms) of `requests` calls sent `concurrency` at a time."""
    prompts = [instructions[i % len(instructions)] for i in range(requests)]
    start = time.perf_counter()
    with ThreadPoolExecutor(concurrency) as pool:
        latencies = sorted(pool.map(lambda p: _post(url, p, tokens), prompts))
    wall = time.perf_counter() - start
    p95 = latencies[min(len(latencies) - 1, round(0.95 * (len(latencies) - 1)))]
    return {"rps": requests / wall, "p50_ms": statistics.median(latencies) * 1000, "p95_ms": p95 * 1000}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="small", choices=["tiny", "small", "glm4-0414"])
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 4, 16])
    parser.add_argument("--tokens", type=int, default=32)
    parser.add_argument("--batch", type=int, default=16, help="max_batch_size when batching is on")
    parser.add_argument("--rounds", type=int, default=2, help="requests per level = rounds x max(concurrency, 4)")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()

    import ray
    from ray import serve

    from mentalglm.config import load_config
    from mentalglm.config.serve import ServeConfig
    from mentalglm.data.records import load_split
    from mentalglm.serve.service import start_service, stop_service
    from mentalglm.serve.smoke import free_port

    results: dict[str, dict[int, dict]] = {}
    with tempfile.TemporaryDirectory(prefix="mentalglm-bench-") as tmp:
        data_name, data_dir, model_dir = prepare(Path(tmp), args.preset)
        val = load_split(data_dir, "val")
        instructions = [r.instruction for r in val[:: max(1, len(val) // 64)][:64]]
        ray.init(num_cpus=args.threads, include_dashboard=False, log_to_driver=False)
        port = free_port()
        try:
            for label, batch in (("on", args.batch), ("off", 1)):
                cfg = load_config(ServeConfig, REPO / "configs/serve/local.yaml", [
                    f"model.name_or_path={model_dir}", f"data.dir={data_dir}", f"serve.port={port}",
                    f"serve.app_name=bench-{label}", f"serve.max_batch_size={batch}",
                    "serve.batch_wait_timeout_s=0.02", "serve.max_ongoing_requests=64",
                    "serve.max_queued_requests=256", f"serve.cpus_per_replica={args.threads}",
                    f"serve.torch_threads={args.threads}", "serve.request_timeout_s=600"])
                url = start_service(cfg)
                _post(url, instructions[0], 4)  # warm up
                results[label] = {c: measure(url, instructions, c, args.rounds * max(c, 4), args.tokens)
                                  for c in args.concurrency}
                stop_service(cfg.serve.app_name)
        finally:
            serve.shutdown()
            ray.shutdown()

    print(f"model preset: {args.preset}, data: {data_name} val, {args.tokens} tokens per answer, "
          f"1 replica x {args.threads} threads, batching on = max_batch_size {args.batch}")
    print(f"{'concurrency':>11} | {'batching':>8} | {'req/s':>7} | {'p50 ms':>8} | {'p95 ms':>8}")
    for c in args.concurrency:
        for label in ("on", "off"):
            r = results[label][c]
            print(f"{c:>11} | {label:>8} | {r['rps']:7.2f} | {r['p50_ms']:8.0f} | {r['p95_ms']:8.0f}")
    top = max(args.concurrency)
    print(f"ratio at concurrency {top} (on / off, req/s): {results['on'][top]['rps'] / results['off'][top]['rps']:.2f}x"
          "   (target >= 4x)")


if __name__ == "__main__":
    main()
