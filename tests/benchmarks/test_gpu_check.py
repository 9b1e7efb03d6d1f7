"""benchmarks/gpu_check.py: its --dry-run prints the full table here; a part whose needs are missing is skipped
with the reason."""

import importlib.util
import re
import subprocess
import sys

import pytest

from paths import REPO

SCRIPT = REPO / "benchmarks/gpu_check.py"


def _load():
    spec = importlib.util.spec_from_file_location("gpu_check", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.slow  # ~40 s: four small processes; in `make test-slow`
def test_dry_run_prints_every_part():
    result = subprocess.run([sys.executable, str(SCRIPT), "--dry-run"], capture_output=True, text=True, timeout=600,
                            cwd=REPO)
    assert result.returncode == 0, result.stderr[-2000:]
    rows = {line.split()[0]: line for line in result.stdout.splitlines()
            if line.split() and line.split()[0] in ("lora-torch", "lora-zero2", "lora-zero3-ckpt", "generate")}
    assert set(rows) == {"lora-torch", "lora-zero2", "lora-zero3-ckpt", "generate"}
    for part, line in rows.items():
        assert "skipped" not in line, line
        numbers = re.findall(r"\s(\d+\.\d+)", line)
        assert float(numbers[0]) > 0  # tokens/s
        if part != "generate":
            assert float(numbers[1]) > 0  # the plan's memory for the same settings


def test_a_part_without_deepspeed_is_skipped_with_the_reason(monkeypatch):
    gpu_check = _load()
    real = importlib.util.find_spec
    monkeypatch.setattr(gpu_check.importlib.util, "find_spec",
                        lambda name, *a: None if name == "deepspeed" else real(name, *a))
    assert gpu_check._run_part("lora-zero2", True, 10) == {"skipped": "needs deepspeed"}
    assert gpu_check._missing("generate", True) is None
    assert gpu_check._missing("lora-torch", False) in (None, "needs a CUDA GPU (or --dry-run)")
