"""Config of `mentalglm data explain`: a teacher model writes the 理由 of label-only records, verified before use."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, field_validator

from mentalglm.config.evaluate import BaselineSection
from mentalglm.config.endpoint import EndpointSection
from mentalglm.config.schema import RaySection, SplitName, Strict, tasks_among
from mentalglm.tasks import SCORED_TASKS


class VerifySection(Strict):
    """The checks an explanation passes before it is kept (see `mentalglm.explain.verify`)."""

    min_chars: int = Field(20, ge=1)
    max_chars: int = Field(400, ge=1)
    min_chinese_ratio: float = Field(0.5, ge=0.0, le=1.0, description="share of Chinese characters among the "
                                                                      "non-space, non-punctuation characters")
    consistency: bool = Field(False, description="also require a TF-IDF model trained on the gold labels of the "
                                                 "train split to predict the gold label from the explanation alone")
    consistency_model: BaselineSection = BaselineSection()


class ExplainConfig(Strict):
    """`mentalglm data explain CONFIG`: `data_dir` (built records) -> `out_dir`, with verified explanations."""

    data_dir: Path = Field(description="a data folder written by `mentalglm data build`")
    out_dir: Path = Field(description="the new data folder: every record of data_dir, explained where verified")
    cache_dir: Path | None = Field(None, description="the teacher's answers, kept across runs (default: "
                                                     "`{out_dir}.answers` beside out_dir)")
    tasks: list[str] = Field(["cognitive_distortion", "suicide_risk"], min_length=1,
                             description="whose records without an explanation are explained")
    splits: list[SplitName] = Field(["train", "val"], min_length=1)
    limit: int | None = Field(None, ge=1, description="explain only the first N records in need (a trial run)")
    max_attempts: int = Field(3, ge=1, description="samples asked per record until one passes verification")
    workers: int = Field(2, ge=1, description="Ray Data actors sending requests (each holds a share of "
                                              "teacher.concurrency)")
    batch_size: int = Field(16, ge=1, description="records per Ray Data batch; at least 8 per thread of a worker, "
                                                  "so a batch's slowest answers leave few threads idle")
    review: int = Field(0, ge=0, description="write review.csv: a stratified sample of this many kept and "
                                             "rejected answers for people to check (--review N)")
    seed: int = 0
    teacher: EndpointSection
    verify: VerifySection = VerifySection()
    ray: RaySection = RaySection()

    @field_validator("tasks")
    @classmethod
    def _scored_tasks(cls, tasks: list[str]) -> list[str]:
        return tasks_among(tasks, SCORED_TASKS)

    def answers_dir(self) -> Path:
        """Where the teacher's answers are cached."""
        return self.cache_dir or self.out_dir.with_name(self.out_dir.name + ".answers")
