"""A Ray head started with `ray start --head` for one test: its own ports, temp folder and auth token, stopped
by killing exactly the processes it started (never `ray stop`, which stops every Ray on the machine)."""

from __future__ import annotations

import os
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

RAY = str(Path(sys.executable).with_name("ray"))


def _free_ports(n: int) -> list[int]:
    sockets = [socket.socket() for _ in range(n)]
    try:
        for s in sockets:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


class RayHead:
    """`with RayHead(num_cpus=2) as head:` gives `head.address` (the dashboard URL jobs are submitted to) and
    `head.env` (what the Ray CLI needs: the token-auth mode and token, and this venv first on PATH). `env` replaces
    parts of that environment for the head and its clients."""

    def __init__(self, num_cpus: int = 2, env: dict[str, str] | None = None):
        self.num_cpus = num_cpus
        # short: Ray's unix socket paths under the temp folder must stay under ~107 characters
        self.temp_dir = Path(tempfile.mkdtemp(prefix="mg-ray-", dir="/tmp"))
        gcs, dashboard, node_manager, object_manager, client, agent, metrics, agent_grpc, env_agent = _free_ports(9)
        self.gcs_port, self.dashboard_port = gcs, dashboard
        self.address = f"http://127.0.0.1:{dashboard}"
        self.env = {**os.environ, "RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": secrets.token_hex(16),
                    "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
                    "RAY_ADDRESS": self.address}
        if env:  # e.g. the environment cluster.yaml's head start command exports (a token file instead)
            if "RAY_AUTH_TOKEN_PATH" in env:
                self.env.pop("RAY_AUTH_TOKEN")
            self.env.update(env)
        self.args = [RAY, "start", "--head", f"--num-cpus={num_cpus}", "--num-gpus=0",
                     "--node-ip-address=127.0.0.1", f"--port={gcs}", "--dashboard-host=127.0.0.1",
                     f"--dashboard-port={dashboard}", f"--node-manager-port={node_manager}",
                     f"--object-manager-port={object_manager}", f"--ray-client-server-port={client}",
                     f"--dashboard-agent-listen-port={agent}", f"--metrics-export-port={metrics}",
                     f"--dashboard-agent-grpc-port={agent_grpc}", f"--runtime-env-agent-port={env_agent}",
                     f"--temp-dir={self.temp_dir}", "--disable-usage-stats"]

    def __enter__(self) -> "RayHead":
        env = {k: v for k, v in self.env.items() if k != "RAY_ADDRESS"}
        result = subprocess.run(self.args, env=env, capture_output=True, text=True, timeout=180)
        if result.returncode != 0:
            self.stop()
            raise RuntimeError(f"ray start failed:\n{result.stdout[-2000:]}\n{result.stderr[-2000:]}")
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def ray(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
        """Run the Ray CLI against this head."""
        return subprocess.run([RAY, *args], env=self.env, capture_output=True, text=True, timeout=timeout)

    def _processes(self) -> list:
        import psutil

        mine = []
        for proc in psutil.process_iter(["cmdline"]):
            cmdline = " ".join(proc.info["cmdline"] or [])
            if str(self.temp_dir) in cmdline or f":{self.gcs_port} " in cmdline + " ":
                mine.append(proc)
                try:  # workers rename themselves (ray::IDLE), so take the daemons' children too
                    mine.extend(proc.children(recursive=True))
                except psutil.NoSuchProcess:
                    pass
        return list({p.pid: p for p in mine}.values())

    def stop(self) -> None:
        """Terminate every process of this head (found by its temp folder or GCS port), then remove the folder."""
        import psutil

        procs = self._processes()
        for proc in procs:
            try:
                proc.terminate()
            except psutil.NoSuchProcess:
                pass
        _, alive = psutil.wait_procs(procs, timeout=15)
        for proc in alive:
            try:
                proc.kill()
            except psutil.NoSuchProcess:
                pass
        time.sleep(0.5)
        shutil.rmtree(self.temp_dir, ignore_errors=True)
