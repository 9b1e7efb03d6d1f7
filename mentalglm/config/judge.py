"""Config of the LLM judge (`mentalglm evaluate CONFIG --judge JUDGE_CONFIG`)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field

from mentalglm.config.endpoint import EndpointSection
from mentalglm.config.schema import Strict


class JudgeConfig(Strict):
    """A G-Eval-style judge: one request per explanation and criterion, scored 0-3 with the rating rubric."""

    judge: EndpointSection
    top_logprobs: int = Field(5, ge=0, le=20, description="ask for this many alternatives per token and score by "
                                                          "the probability-weighted digit; 0: the parsed integer only")
    cache_dir: Path = Field(Path("runs/judge-cache"), description="the judge's answers, kept across runs")
