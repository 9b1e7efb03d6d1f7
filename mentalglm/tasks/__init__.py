"""The task contract every stage shares: the three tasks and their labels (`registry`), reading a model's answer
back into labels (`parsing`), per-task metrics (`metrics`), explanation metrics such as ROUGE/BLEU with Chinese
tokenisation (`text_metrics`), quoted evidence (`evidence`) and the expert rating rubric (`rubric`)."""

from mentalglm.tasks.registry import (
    ALL_TASKS,
    COGNITIVE_DISTORTION_LABELS,
    EXPLANATION_MARKER,
    HIGH_LEVEL_THRESHOLD,
    IMHI_TASK,
    INSTRUCTION_TEMPLATE,
    SCORED_TASKS,
    SUICIDE_LEVEL_LABELS,
    SUICIDE_RISK_LABELS,
    TASKS,
    Task,
    get_task,
    render_instruction,
    render_response,
    zero_shot_guide,
    zero_shot_instruction,
)
from mentalglm.tasks.parsing import FAILURE_KINDS, ParsedResponse, parse_response
from mentalglm.tasks.metrics import HEADLINE, PARSE_FAILURE, task_metrics

__all__ = [
    "ALL_TASKS", "COGNITIVE_DISTORTION_LABELS", "EXPLANATION_MARKER", "FAILURE_KINDS", "HEADLINE",
    "HIGH_LEVEL_THRESHOLD", "IMHI_TASK", "INSTRUCTION_TEMPLATE", "PARSE_FAILURE", "ParsedResponse", "SCORED_TASKS",
    "SUICIDE_LEVEL_LABELS", "SUICIDE_RISK_LABELS", "TASKS", "Task", "get_task", "parse_response",
    "render_instruction", "render_response", "task_metrics", "zero_shot_guide", "zero_shot_instruction",
]

# The modules other packages may import; the rest are this package's own (tests/test_layering.py).
PUBLIC_MODULES = ('evidence', 'metrics', 'parsing', 'rubric', 'text_metrics')
