"""SIGTERM (what `docker stop`, systemd and Kubernetes send) takes the Ctrl-C path in the long-running verbs:
`mentalglm serve` answers the requests in flight, deletes its app, prints one line and exits 0; `mentalglm train`
stops with one line and exit 130. Neither prints a stack trace, and no Ray process of theirs is left."""

import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import psutil
import pytest

from paths import REPO

CLI = str(Path(sys.executable).parent / "mentalglm")
CHAT = {"messages": [{"role": "user", "content": "我好累"}], "max_tokens": 500, "min_tokens": 500}
TRACES = ("Traceback", "SIGTERM received", "clock_nanosleep", "*** ")


@pytest.fixture
def ray_tmp():
    """A short RAY_TMPDIR of the command's own (socket paths must stay under 108 bytes), removed after, and with it
    every process of a command a failed test left running (found by that folder in their command lines)."""
    folder = Path(tempfile.mkdtemp(prefix="mg-", dir="/tmp"))
    yield folder
    for started in _STARTED:
        if started.poll() is None:
            started.kill()
            started.wait()
    for proc in psutil.process_iter(["cmdline"]):
        if str(folder) in " ".join(proc.info["cmdline"] or []):
            try:
                proc.kill()
            except psutil.Error:
                pass
    _STARTED.clear()
    shutil.rmtree(folder, ignore_errors=True)


_STARTED: list[subprocess.Popen] = []


def _ray_processes(ray_tmp: Path) -> list[str]:
    time.sleep(1)  # the processes the command stopped are gone within its exit; give the kernel a moment
    return [" ".join(p.info["cmdline"] or [])[:120] for p in psutil.process_iter(["cmdline"])
            if str(ray_tmp) in " ".join(p.info["cmdline"] or [])]


def _start(argv: list[str], ray_tmp: Path, cwd: Path) -> subprocess.Popen:
    env = {**os.environ, "RAY_TMPDIR": str(ray_tmp), "HF_HUB_OFFLINE": "1"}
    for name in ("RAY_ADDRESS", "MENTALGLM_API_TOKEN"):
        env.pop(name, None)
    proc = subprocess.Popen([CLI, *argv], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
                            cwd=cwd)
    _STARTED.append(proc)
    return proc


def test_sigterm_to_serve_answers_the_4_requests_in_flight_then_exits_0(tiny_model_dir, tiny_adapter_dir,
                                                                         sample_data_dir, ray_tmp, tmp_path):
    from mentalglm.serve.smoke import free_port

    port = free_port()
    proc = _start(["serve", str(REPO / "configs/serve/local.yaml"), "--checkpoint", str(tiny_adapter_dir),
                   f"model.name_or_path={tiny_model_dir}", f"data.dir={sample_data_dir}", f"serve.port={port}",
                   "ray.num_cpus=2", "serve.max_batch_size=1", "serve.cpus_per_replica=1", "serve.torch_threads=1"],
                  ray_tmp, tmp_path)
    console = []
    for line in proc.stdout:  # up once it prints where it serves
        console.append(line)
        if line.startswith("serving "):
            break
    assert proc.poll() is None, "".join(console)[-3000:]
    url = f"http://127.0.0.1:{port}/v1/chat/completions"
    start = time.monotonic()
    assert httpx.post(url, json=CHAT, timeout=120).status_code == 200
    one = time.monotonic() - start  # requests run one at a time: the 4 take about 4 x `one`
    with ThreadPoolExecutor(4) as pool:
        answers = [pool.submit(httpx.post, url, json=CHAT, timeout=120) for _ in range(4)]
        time.sleep(min(1.0, one / 2))  # one generating, three waiting on the replica
        assert not any(a.done() for a in answers), one
        proc.send_signal(signal.SIGTERM)
        statuses = [a.result().status_code for a in answers]
    rest, _ = proc.communicate(timeout=120)
    console.append(rest)
    text = "".join(console)
    assert statuses == [200, 200, 200, 200]
    assert proc.returncode == 0, text[-3000:]
    assert not [t for t in TRACES if t in text], text[-3000:]
    assert rest.strip().splitlines()[-1] == ("stopped (SIGTERM): mentalglm deleted after the requests in flight "
                                             "finished (up to 30 s, serve.shutdown_grace_s)")
    assert _ray_processes(ray_tmp) == []


@pytest.mark.slow
def test_sigterm_to_train_stops_it_with_one_line_and_exit_130(ray_tmp, tmp_path, tiny_model_dir, sample_data_dir):
    runs = tmp_path / "runs"
    proc = _start(["train", str(REPO / "configs/train/tiny-lora.yaml"), f"run.storage_path={runs}", "run.name=stop",
                   f"model.name_or_path={tiny_model_dir}", f"data.dir={sample_data_dir}", "train.epochs=50",
                   f"deepspeed.config={REPO / 'configs/deepspeed/zero2.json'}"],
                  ray_tmp, tmp_path)
    deadline = time.monotonic() + 300
    while not (runs / "stop" / "metrics.jsonl").exists() and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.5)  # training has begun: Ray is up and the driver waits on the workers
    assert proc.poll() is None, proc.communicate()[0][-3000:]
    proc.send_signal(signal.SIGTERM)
    text, _ = proc.communicate(timeout=180)
    assert proc.returncode == 130, text[-3000:]
    assert not [t for t in TRACES if t in text], text[-3000:]
    assert text.strip().splitlines()[-1] == "train: stopped (SIGTERM) before it finished"
    assert re.search(r"^\[mentalglm train\] step \d+/\d+ · ", text, re.M), text[-3000:]  # progress, before the stop
    assert _ray_processes(ray_tmp) == []
