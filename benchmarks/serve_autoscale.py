"""Autoscaling shown live: the tiny model served with `serve.autoscaling` (1 to 2 replicas, short delays), driven by
concurrent clients until Serve runs 2 replicas, then left idle until it is back to 1. Prints the replica count and
the requests answered, second by second, the times to scale up and down, and the status counts during each phase.

    python benchmarks/serve_autoscale.py [--clients 6] [--cpus 3]

`tests/serve_autoscale/` runs the same with a smaller budget and asserts it.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
POSTS = ["最近总是失眠，白天上班也没精神。", "考试又没考好，我是不是很没用。", "今天和朋友去爬山，心情好多了。",
         "不想再撑下去了，什么都没有意义。"]


def running_replicas(app_name: str) -> int:
    """How many replicas of the application's deployment Serve reports RUNNING."""
    from ray import serve

    app = serve.status().applications.get(app_name)
    if app is None:
        return 0
    return sum(d.replica_states.get("RUNNING", 0) for d in app.deployments.values())


class Load:
    """`clients` threads posting /v1/analyze back to back until `stop()`; statuses counted per phase (a dropped
    connection counts as 599)."""

    def __init__(self, url: str, token: str | None, clients: int):
        self.url, self.clients = url, clients
        self.headers = {"Authorization": f"Bearer {token}"} if token else {}
        self.phase, self.statuses = "up", {"up": Counter(), "down": Counter()}
        self.done = 0
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._threads = [threading.Thread(target=self._loop, args=(n,), daemon=True) for n in range(clients)]

    def _loop(self, n: int) -> None:
        import httpx

        with httpx.Client(headers=self.headers, timeout=120) as client:
            while not self._stop.is_set():
                body = {"post": POSTS[n % len(POSTS)], "task": "suicide_risk"}
                try:
                    status = client.post(f"{self.url}/v1/analyze", json=body).status_code
                except httpx.HTTPError:
                    status = 599
                with self._lock:
                    self.statuses[self.phase][status] += 1
                    self.done += 1

    def start(self) -> "Load":
        for t in self._threads:
            t.start()
        return self

    def stop(self) -> None:
        """Stop sending and wait for the requests in flight; later counts go to the `down` phase."""
        self._stop.set()
        for t in self._threads:
            t.join()
        self.phase = "down"


def probe(url: str, token: str | None, statuses: Counter) -> None:
    """One request during scale-down (it must still be answered)."""
    import httpx

    headers = {"Authorization": f"Bearer {token}"} if token else {}
    try:
        status = httpx.post(f"{url}/v1/analyze", json={"post": POSTS[0], "task": "suicide_risk"},
                            headers=headers, timeout=120).status_code
    except httpx.HTTPError:
        status = 599
    statuses[status] += 1


def scale_up_and_down(url: str, token: str | None, app_name: str, clients: int, timeout_s: float,
                      timeline: list[tuple[float, int, int]] | None = None) -> dict[str, Any]:
    """Drive load until 2 replicas run, stop, and wait for 1; returns times and status counts per phase.

    Raises:
        TimeoutError: a phase took longer than `timeout_s`.
    """
    start = time.monotonic()
    load = Load(url, token, clients).start()
    try:
        while running_replicas(app_name) < 2:
            if time.monotonic() - start > timeout_s:
                raise TimeoutError(f"still {running_replicas(app_name)} replica(s) after {timeout_s:.0f} s of load")
            if timeline is not None:
                timeline.append((time.monotonic() - start, running_replicas(app_name), load.done))
            time.sleep(0.5)
        up_s = time.monotonic() - start
    finally:
        load.stop()
    down_start = time.monotonic()
    while running_replicas(app_name) > 1:
        if time.monotonic() - down_start > timeout_s:
            raise TimeoutError(f"still {running_replicas(app_name)} replicas {timeout_s:.0f} s after the load")
        probe(url, token, load.statuses["down"])
        if timeline is not None:
            timeline.append((time.monotonic() - start, running_replicas(app_name), load.done))
        time.sleep(0.5)
    return {"scale_up_s": up_s, "scale_down_s": time.monotonic() - down_start,
            "statuses_up": dict(load.statuses["up"]), "statuses_down": dict(load.statuses["down"])}


def autoscaling_overrides(port: int) -> list[str]:
    """configs/serve/local.yaml overrides for a 1-2 replica service with short delays."""
    return [f"serve.port={port}", "serve.app_name=autoscaled", "serve.max_new_tokens=8", "serve.max_batch_size=1",
            "serve.cpus_per_replica=1", "serve.torch_threads=1", "serve.max_ongoing_requests=2",
            "serve.max_queued_requests=64",
            "serve.autoscaling={min_replicas: 1, max_replicas: 2, target_ongoing_requests: 1, upscale_delay_s: 1, "
            "downscale_delay_s: 3, look_back_period_s: 2}"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=6)
    parser.add_argument("--cpus", type=int, default=3, help="logical CPUs of the local cluster (2 replicas x 1)")
    parser.add_argument("--timeout", type=float, default=180.0)
    args = parser.parse_args()
    sys.path.insert(0, str(REPO / "benchmarks"))
    import ray
    from ray import serve

    from mentalglm.config import load_config
    from mentalglm.config.serve import ServeConfig
    from mentalglm.serve.service import start_service
    from mentalglm.serve.smoke import free_port
    from train_throughput import prepare

    with tempfile.TemporaryDirectory(prefix="mentalglm-autoscale-") as tmp:
        _, data_dir, model_dir = prepare(Path(tmp), "tiny")
        ray.init(num_cpus=args.cpus, include_dashboard=False, log_to_driver=False)
        try:
            cfg = load_config(ServeConfig, REPO / "configs/serve/local.yaml", [
                f"model.name_or_path={model_dir}", f"data.dir={data_dir}", *autoscaling_overrides(free_port())])
            url = start_service(cfg)
            timeline: list[tuple[float, int, int]] = []
            result = scale_up_and_down(url, None, cfg.serve.app_name, args.clients, args.timeout, timeline)
        finally:
            serve.shutdown()
            ray.shutdown()
    print("| t (s) | running replicas | requests answered |\n|---|---|---|")
    for t, replicas, done in timeline[::2]:
        print(f"| {t:.1f} | {replicas} | {done} |")
    print(f"scale up {result['scale_up_s']:.1f} s (statuses {result['statuses_up']}); scale down "
          f"{result['scale_down_s']:.1f} s after the load stopped (statuses {result['statuses_down']})")


if __name__ == "__main__":
    main()
