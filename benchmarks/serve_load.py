"""Serving under load: many clients, streamed and plain, short and long prompts, for a fixed time; then every
answer that came back 200 is checked against the same request sent alone (greedy decoding, so they must match).

    python benchmarks/serve_load.py                      # a local service on the tiny model, 32 clients, 60 s
    python benchmarks/serve_load.py --clients 8 --duration 10
    python benchmarks/serve_load.py --url http://host:8000 --token "$MENTALGLM_API_TOKEN"

Prints request counts by status (a stream that ends in an error event counts under that event's code), p50/p95
latency of the 200s, how many 200 answers differ from the request sent alone (must be 0), and, for a service it
started itself, the replica's RSS at start and end. 503 (over capacity) and 504 (timeout) are by design; any
other 5xx is a failure.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import threading
import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import httpx

REPO = Path(__file__).resolve().parents[1]


def catalogue(posts: list[str], long_chars: int = 1800) -> list[dict[str, Any]]:
    """The distinct requests clients draw from: chats (plain and streamed, short and long prompts, two answer
    lengths) and analyses. Every one is greedy, so its answer does not depend on what it was batched with."""
    def long(start: int) -> str:
        text = ""
        while len(text) < long_chars:
            text += "".join(posts[start:] + posts[:start])
        return text[:long_chars]

    prompts = [(p, False) for p in posts[:6]] + [(long(i), True) for i in (0, 1, 2)]
    requests: list[dict[str, Any]] = []
    for prompt, is_long in prompts:
        for stream in (False, True):
            for tokens in (8, 40):
                requests.append({"route": "/v1/chat/completions", "long": is_long, "body": {
                    "messages": [{"role": "user", "content": f"考虑一下这个帖子：“{prompt}”问题：发帖人的自杀风险是高还是低？"}],
                    "max_tokens": tokens, "min_tokens": tokens // 2, "stream": stream}})
    for prompt, is_long in [(p, False) for p in posts[6:9]] + [(long(3), True)]:
        requests.append({"route": "/v1/analyze", "long": is_long, "body": {"post": prompt, "task": "suicide_risk"}})
    return requests


def send(client: httpx.Client, url: str, request: dict[str, Any]) -> tuple[int, str | None]:
    """(status, answer) of one request; a stream's status is its error event's code if it sent one."""
    if request["body"].get("stream"):
        with client.stream("POST", url + request["route"], json=request["body"]) as r:
            if r.status_code != 200:
                r.read()
                return r.status_code, None
            text, status = [], 200
            for line in r.iter_lines():
                if not line.startswith("data: {"):
                    continue
                event = json.loads(line[6:])
                if "error" in event:
                    status = int(event["error"]["code"])
                elif event.get("choices"):
                    text.append(event["choices"][0]["delta"].get("content") or "")
            return status, "".join(text) if status == 200 else None
    r = client.post(url + request["route"], json=request["body"])
    if r.status_code != 200:
        return r.status_code, None
    body = r.json()
    if request["route"] == "/v1/analyze":
        return 200, json.dumps([x["raw"] for x in body["results"]], ensure_ascii=False)
    return 200, body["choices"][0]["message"]["content"]


def run_load(url: str, token: str | None, requests: list[dict[str, Any]], clients: int, duration_s: float,
             seed: int = 0) -> dict[str, Any]:
    """Drive `url` with `clients` threads, each sending requests drawn from `requests` back to back for
    `duration_s`; then send each request that got a 200 once more, alone, and compare.

    Returns: {"statuses": Counter, "p50_ms", "p95_ms", "answers": int, "mismatches": [(index, got, alone)],
              "sent": int, "streamed_200": int, "long_200": int}
    """
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    statuses: Counter = Counter()
    latencies: list[float] = []
    answers: dict[int, list[str]] = defaultdict(list)
    lock = threading.Lock()
    stop_at = time.monotonic() + duration_s

    def client_loop(n: int) -> None:
        rng = random.Random(seed * 1000 + n)
        with httpx.Client(headers=headers, timeout=180) as client:
            while time.monotonic() < stop_at:
                index = rng.randrange(len(requests))
                start = time.perf_counter()
                try:
                    status, answer = send(client, url, requests[index])
                except httpx.HTTPError as exc:  # a dropped connection counts as a failure, not a crash
                    status, answer = 599, f"{exc.__class__.__name__}"
                elapsed = time.perf_counter() - start
                with lock:
                    statuses[status] += 1
                    if status == 200:
                        latencies.append(elapsed)
                        answers[index].append(answer)

    threads = [threading.Thread(target=client_loop, args=(n,)) for n in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    mismatches = []
    with httpx.Client(headers=headers, timeout=180) as client:
        for index, got in sorted(answers.items()):
            _, alone = send(client, url, requests[index])
            mismatches += [(index, g, alone) for g in got if g != alone]
    latencies.sort()
    pick = lambda q: latencies[min(len(latencies) - 1, round(q * (len(latencies) - 1)))] * 1000 if latencies else 0
    return {"statuses": statuses, "p50_ms": pick(0.5), "p95_ms": pick(0.95),
            "answers": sum(len(v) for v in answers.values()), "mismatches": mismatches,
            "sent": sum(statuses.values()),
            "streamed_200": sum(len(v) for i, v in answers.items() if requests[i]["body"].get("stream")),
            "long_200": sum(len(v) for i, v in answers.items() if requests[i]["long"])}


def serve_actors(prefix: str) -> list[str]:
    """Names of Serve's live actors that start with `prefix`: `SERVE_REPLICA::{app}#` (an application's replicas),
    `SERVE_PROXY_ACTOR` (the HTTP proxies)."""
    import ray

    return sorted(a["name"] for a in ray.util.list_named_actors(all_namespaces=True) if a["name"].startswith(prefix))


def actor_pid(name: str) -> int:
    """The process id of a Serve actor, asked of the actor itself."""
    import os

    import ray

    return ray.get(ray.get_actor(name, namespace="serve").__ray_call__.remote(lambda _: os.getpid()))


def replica_rss_mb(app_name: str) -> float | None:
    """Resident memory of the application's replica (one replica), from inside it; None without Ray."""
    import psutil
    import ray

    if not ray.is_initialized():
        return None
    names = serve_actors(f"SERVE_REPLICA::{app_name}#")
    if len(names) != 1:
        return None
    return psutil.Process(actor_pid(names[0])).memory_info().rss / 2**20


def bad_statuses(statuses: Counter) -> dict[int, int]:
    """Statuses that are failures: 5xx other than 503 and 504 (and 599, a dropped connection)."""
    return {s: n for s, n in statuses.items() if s >= 500 and s not in (503, 504)}


def report(result: dict[str, Any], rss: tuple[float | None, float | None]) -> str:
    """The printed summary."""
    lines = [f"requests sent: {result['sent']}; by status: {dict(sorted(result['statuses'].items()))}",
             f"200 answers: {result['answers']} (streamed {result['streamed_200']}, long prompt {result['long_200']});"
             f" p50 {result['p50_ms']:.0f} ms, p95 {result['p95_ms']:.0f} ms",
             f"200 answers that differ from the same request sent alone: {len(result['mismatches'])}",
             f"failures (5xx other than 503/504): {bad_statuses(result['statuses']) or 'none'}"]
    if rss[0] is not None:
        lines.append(f"replica RSS: {rss[0]:.0f} MB at start, {rss[1]:.0f} MB at end")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--duration", type=float, default=60.0, help="seconds of load")
    parser.add_argument("--url", help="an already running service (default: start one on the tiny model)")
    parser.add_argument("--token", help="its bearer token")
    parser.add_argument("--threads", type=int, default=2, help="CPUs of the local cluster and the replica")
    args = parser.parse_args()

    sys.path.insert(0, str(REPO / "benchmarks"))
    from mentalglm.data.records import load_split

    if args.url:
        posts = [r.post for r in load_split(REPO / "data" / "sample", "train")] if (
            REPO / "data" / "sample" / "train.jsonl").exists() else ["我最近很累。", "活着没有意思。"] * 5
        result = run_load(args.url.rstrip("/"), args.token, catalogue(posts), args.clients, args.duration)
        print(report(result, (None, None)))
        return

    import ray
    from ray import serve

    from mentalglm.config import load_config
    from mentalglm.config.serve import ServeConfig
    from mentalglm.serve.service import start_service
    from mentalglm.serve.smoke import free_port
    from train_throughput import prepare

    with tempfile.TemporaryDirectory(prefix="mentalglm-load-") as tmp:
        _, data_dir, model_dir = prepare(Path(tmp), "tiny")
        posts = [r.post for r in load_split(data_dir, "train")]
        token_file = Path(tmp) / "token"
        token_file.write_text("load-test-token\n")
        ray.init(num_cpus=args.threads, include_dashboard=False, log_to_driver=False)
        try:
            cfg = load_config(ServeConfig, REPO / "configs/serve/local.yaml", [
                f"model.name_or_path={model_dir}", f"data.dir={data_dir}", f"serve.port={free_port()}",
                f"serve.token_file={token_file}", "serve.max_batch_size=8", "serve.batch_wait_timeout_s=0.02",
                "serve.max_ongoing_requests=16", "serve.max_queued_requests=32", "serve.max_concurrent_streams=4",
                f"serve.cpus_per_replica={args.threads}", f"serve.torch_threads={args.threads}",
                "serve.request_timeout_s=60"])
            url = start_service(cfg)
            start_rss = replica_rss_mb(cfg.serve.app_name)
            samples: list[float] = []
            done = threading.Event()

            def sample() -> None:  # the replica's memory every tenth of the run: growing, or settling?
                while not done.wait(args.duration / 10):
                    samples.append(replica_rss_mb(cfg.serve.app_name) or 0.0)

            sampler = threading.Thread(target=sample, daemon=True)
            sampler.start()
            result = run_load(url, "load-test-token", catalogue(posts), args.clients, args.duration)
            done.set()
            end_rss = replica_rss_mb(cfg.serve.app_name)
        finally:
            serve.shutdown()
            ray.shutdown()
    print(f"{args.clients} clients for {args.duration:g} s, 1 replica x {args.threads} threads (tiny model)")
    print(report(result, (start_rss, end_rss)))
    print("replica RSS (MB) every tenth of the run: " + ", ".join(f"{m:.0f}" for m in samples))
    if result["mismatches"] or bad_statuses(result["statuses"]):
        sys.exit(1)


if __name__ == "__main__":
    main()
