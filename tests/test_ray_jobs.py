"""`ray job submit` against a head this test starts: the tiny training job, token auth on (Ray's default)."""

import json
import subprocess
import time

from paths import REPO
from ray_head import RayHead


ENDINGS = {"succeeded": "SUCCEEDED", "failed": "FAILED", "was stopped": "STOPPED"}


def _wait_for_end(head: RayHead, job_id: str, timeout: float = 420) -> str:
    """Poll `ray job status` until it reports the job ended; its final state (or TIMEOUT)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        done = head.ray("job", "status", job_id, "--address", head.address)
        text = done.stdout + done.stderr
        for words, status in ENDINGS.items():
            if f"Job '{job_id}' {words}" in text:
                return status
        time.sleep(2)
    return "TIMEOUT"


def test_training_job_submitted_with_the_ray_cli(sample_data_dir, tiny_model_dir, tmp_path):
    runs = tmp_path / "runs"
    with RayHead(num_cpus=2) as head:
        # the CLI without the token is refused: the head keeps Ray's default token authentication
        no_token = {k: v for k, v in head.env.items() if k != "RAY_AUTH_TOKEN"}
        refused = subprocess.run([head.args[0], "job", "list", "--address", head.address], env=no_token,
                                 capture_output=True, text=True, timeout=120)
        assert refused.returncode != 0

        submitted = head.ray(
            "job", "submit", "--address", head.address, "--working-dir", str(REPO), "--no-wait",
            "--submission-id", "mentalglm-train-test", "--",
            "python", "ray_jobs/train.py", "--config", "configs/train/tiny-lora.yaml",
            f"model.name_or_path={tiny_model_dir}", f"data.dir={sample_data_dir}", f"run.storage_path={runs}",
            "train.epochs=1", "ray.num_cpus=null")
        assert submitted.returncode == 0, submitted.stderr[-3000:]
        status = _wait_for_end(head, "mentalglm-train-test")
        logs = head.ray("job", "logs", "mentalglm-train-test", "--address", head.address).stdout
        assert status == "SUCCEEDED", logs[-4000:]
        assert f"final adapter: {runs}/local-tiny/final" in logs

    final = runs / "local-tiny" / "final"
    assert (final / "adapter_model.safetensors").stat().st_size > 0
    assert json.loads((final / "adapter_config.json").read_text())["r"] == 8
    metrics = json.loads((final / "metrics.json").read_text())
    assert metrics["finished"] and metrics["step"] == 6  # 47 records / (2 workers x 4) = 6 steps in one epoch
