"""Hyperparameter sweeps: Ray Tune over `mentalglm train` runs (ASHA, cluster-bounded concurrency, best export).

Public entry point: `run_sweep(cfg)`.
"""

from mentalglm.tune.sweep import SweepResult, run_sweep

__all__ = ["SweepResult", "run_sweep"]
