"""Training progress a person can follow on the driver's console: one line per report (step/total, losses, lr,
tokens/s, ETA), whatever `ray.log_to_driver` says.

The reports are written to `{run_dir}/metrics.jsonl` by the metrics callback in Ray Train's controller; the driver
follows that file while the run goes (`follow_progress`) and prints each new report. `progress_to(stream)` sends
the lines elsewhere (the main job sends them to the terminal while the rest of its output goes to its log).
"""

from __future__ import annotations

import contextlib
import json
import sys
import threading
import time
from pathlib import Path
from typing import IO, Any, Iterator

PROGRESS_KEYS = (("train_loss", ".4f"), ("val_loss", ".4f"), ("lr", ".2e"), ("tokens_per_s", ".0f"))
_stream: IO[str] | None = None  # None: this process's stdout at the time of printing


@contextlib.contextmanager
def progress_to(stream: IO[str]) -> Iterator[None]:
    """Within the block, progress lines go to `stream`."""
    global _stream
    before, _stream = _stream, stream
    try:
        yield
    finally:
        _stream = before


def emit(line: str) -> None:
    """Print one progress line where progress goes (`progress_to`, else stdout)."""
    print(line, file=_stream or sys.stdout, flush=True)


def _duration(seconds: float) -> str:
    seconds = int(round(seconds))
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m" if seconds >= 3600 else f"{seconds // 60}m{seconds % 60:02d}s"


def progress_line(metrics: dict[str, Any], eta_s: float | None = None, label: str = "train") -> str:
    """One human line for a report: step/total, epoch, losses, lr, throughput and, when known, the time left."""
    parts = [f"step {metrics.get('step')}/{metrics.get('total_steps')}"]
    if isinstance(metrics.get("epoch"), (int, float)):
        parts.append(f"epoch {metrics['epoch']:.2f}")
    parts += [f"{k} {metrics[k]:{fmt}}" for k, fmt in PROGRESS_KEYS if isinstance(metrics.get(k), (int, float))]
    if eta_s is not None:
        parts.append(f"ETA {_duration(eta_s)}")
    return f"[mentalglm {label}] " + " · ".join(parts)


class _Follower:
    """Reads the reports appended to a metrics.jsonl after `offset` and prints a line for each, with an ETA from
    the pace of the reports seen so far."""

    def __init__(self, path: Path, offset: int, label: str):
        self.path, self.offset, self.label = path, offset, label
        self.first: tuple[float, int] | None = None  # (time, step) of the first report seen

    def poll(self) -> None:
        if not self.path.exists() or self.path.stat().st_size <= self.offset:
            return
        with self.path.open("rb") as handle:
            handle.seek(self.offset)
            data = handle.read()
        complete = data[: data.rfind(b"\n") + 1]  # a line still being written waits for the next poll
        self.offset += len(complete)
        for raw in complete.splitlines():
            try:
                metrics = json.loads(raw)
            except ValueError:
                continue
            self._print(metrics)

    def _print(self, metrics: dict[str, Any]) -> None:
        now, step, total = time.monotonic(), metrics.get("step"), metrics.get("total_steps")
        eta = None
        if isinstance(step, int) and isinstance(total, int):
            if self.first is None:
                self.first = (now, step)
            elif step > self.first[1]:
                eta = (now - self.first[0]) / (step - self.first[1]) * max(0, total - step)
        emit(progress_line(metrics, eta, self.label))


@contextlib.contextmanager
def follow_progress(metrics_path: str | Path, label: str = "train", interval_s: float = 0.5) -> Iterator[None]:
    """While the block runs, print a progress line for each report appended to `metrics_path` (reports from
    before the block, e.g. of a resumed run's earlier part, are not repeated)."""
    path = Path(metrics_path)
    follower = _Follower(path, path.stat().st_size if path.exists() else 0, label)
    done = threading.Event()

    def run() -> None:
        while not done.wait(interval_s):
            follower.poll()

    thread = threading.Thread(target=run, name="mentalglm-progress", daemon=True)
    thread.start()
    try:
        yield
    finally:
        done.set()
        thread.join()
        follower.poll()  # the last reports
