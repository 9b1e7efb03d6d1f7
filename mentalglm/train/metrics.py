"""Driver-side record of a training run: metrics.jsonl, TensorBoard scalars and a progress line per report."""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path
from typing import Any

from ray.train import UserCallback

PROGRESS_KEYS = (("train_loss", ".4f"), ("val_loss", ".4f"), ("lr", ".2e"), ("tokens_per_s", ".0f"),
                 ("step_time_s", ".3f"))


def progress_line(metrics: dict[str, Any]) -> str:
    """One human line for a report: step, epoch, losses, lr, throughput."""
    parts = [f"step {metrics.get('step')}/{metrics.get('total_steps')}", f"epoch {metrics.get('epoch', 0):.2f}"]
    parts += [f"{k} {metrics[k]:{fmt}}" for k, fmt in PROGRESS_KEYS if isinstance(metrics.get(k), (int, float))]
    return "[mentalglm train] " + " · ".join(parts)


def _progress_log() -> logging.Logger:
    # The callback runs in Ray Train's controller actor, where no handler is set up: its progress lines go to the
    # actor's stdout, which Ray forwards to the driver's console.
    logger = logging.getLogger("mentalglm.train.progress")
    if not logger.handlers:
        handler = logging.StreamHandler(sys.stdout)
        handler.setFormatter(logging.Formatter("%(message)s"))
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
        logger.propagate = False
    return logger


class MetricsLogger(UserCallback):
    """Append rank 0's metrics of each report to `{run_dir}/metrics.jsonl` and TensorBoard (`{run_dir}/tensorboard`).

    Runs in the Ray Train controller; `run_dir` must be a local (or mounted) path.
    """

    def __init__(self, run_dir: str | Path):
        self.run_dir = Path(run_dir)
        self._writer = None

    def after_report(self, run_context: Any, metrics: list[dict[str, Any]], checkpoint: Any) -> None:
        if not metrics:
            return
        m = dict(metrics[0])
        if checkpoint is not None:
            m["checkpoint"] = checkpoint.path
        self.run_dir.mkdir(parents=True, exist_ok=True)
        with open(self.run_dir / "metrics.jsonl", "a", encoding="utf-8") as handle:
            handle.write(json.dumps(m, ensure_ascii=False) + "\n")
        writer = self._tensorboard()
        if writer is not None:
            for key, value in m.items():
                if isinstance(value, (int, float)) and not isinstance(value, bool) and key != "step":
                    writer.add_scalar(f"train/{key}", value, m.get("step", 0))
            writer.flush()
        _progress_log().info(progress_line(m))

    def _tensorboard(self):
        if self._writer is None:
            try:
                from torch.utils.tensorboard import SummaryWriter
            except ImportError:  # tensorboard not installed: metrics.jsonl still has everything
                return None
            self._writer = SummaryWriter(str(self.run_dir / "tensorboard"))
        return self._writer

    def __getstate__(self) -> dict[str, Any]:
        return {"run_dir": self.run_dir, "_writer": None}
