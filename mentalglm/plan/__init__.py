"""Plan a run before renting GPUs: memory per GPU, FLOPs, steps and wall time (`mentalglm plan CONFIG`)."""

from mentalglm.plan.report import Plan, check_fits, make_plan, preflight_plan
from mentalglm.plan.shape import load_model_config
from mentalglm.plan.steps import lr_lambda, steps_per_epoch, total_steps
from mentalglm.plan.table import format_plan

__all__ = ["Plan", "check_fits", "format_plan", "load_model_config", "lr_lambda", "make_plan", "preflight_plan",
           "steps_per_epoch", "total_steps"]

# The modules other packages may import; the rest are this package's own (tests/test_layering.py).
PUBLIC_MODULES = ('steps',)
