"""Driver-side record of a training run: metrics.jsonl and TensorBoard scalars (the console's progress lines are
printed from metrics.jsonl by the driver: `mentalglm.train.progress`)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ray.train import UserCallback

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
