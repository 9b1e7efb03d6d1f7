"""Plan a run before renting GPUs: memory per GPU, FLOPs, steps and wall time (`mentalglm plan CONFIG`)."""

from mentalglm.plan.report import Plan, check_fits, make_plan, preflight_plan
from mentalglm.plan.table import format_plan, plan_config

__all__ = ["Plan", "check_fits", "format_plan", "make_plan", "plan_config", "preflight_plan"]
