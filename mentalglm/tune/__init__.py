"""Hyperparameter sweeps: Ray Tune over `mentalglm train` runs (ASHA, cluster-bounded concurrency, best export).

Public entry points: `run_sweep(cfg)`; `plan_config(cfg)`, the plans of a train or tune config.
"""

from mentalglm.tune.planning import heaviest_trial, plan_config
from mentalglm.tune.sweep import SweepResult, run_sweep

__all__ = ["SweepResult", "heaviest_trial", "plan_config", "run_sweep"]

# The modules other packages may import; the rest are this package's own (tests/test_layering.py).
PUBLIC_MODULES = ()
