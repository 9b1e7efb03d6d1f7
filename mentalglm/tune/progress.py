"""A sweep's progress on the driver's console: one line per trial as it ends (its sampled settings, how far it
got, its metric), printed by a Tune callback in the driver, whatever `ray.log_to_driver` says."""

from __future__ import annotations

from typing import Any

from ray.tune import Callback

from mentalglm.train.progress import emit


def trial_line(trial_id: str, params: dict[str, Any], result: dict[str, Any], metric: str, ended: int,
               total: int | None, status: str = "done") -> str:
    """`[mentalglm tune] trial 2/4 <id> done: lora.r=8, train.lr=0.003 · step 12/12 · val_loss 2.9131`."""
    settings = ", ".join(f"{k}={v}" for k, v in sorted(params.items()))
    parts = [f"step {result.get('step')}/{result.get('total_steps')}"] if "step" in result else []
    value = result.get(metric)
    if isinstance(value, (int, float)):
        parts.append(f"{metric} {value:.4f}")
    counted = f"{ended}/{total}" if total else str(ended)
    return f"[mentalglm tune] trial {counted} {trial_id} {status}: {settings}" + "".join(f" · {p}" for p in parts)


class TrialLines(Callback):
    """Print `trial_line` for each trial that completes or fails."""

    def __init__(self, metric: str, total: int | None):
        self.metric, self.total, self.ended = metric, total, 0

    def _line(self, trial: Any, status: str) -> None:
        self.ended += 1
        emit(trial_line(trial.trial_id, dict(trial.config or {}), dict(trial.last_result or {}), self.metric,
                        self.ended, self.total, status))

    def on_trial_complete(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        self._line(trial, "done")

    def on_trial_error(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        self._line(trial, "failed")
