"""Config of `mentalglm evaluate` and `mentalglm baseline`."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field

from mentalglm.config.schema import RaySection, RunConfig, Strict


class EvaluateSection(Strict):
    """Generation and scoring."""

    batch_size: int = Field(8, ge=1)
    max_new_tokens: int = Field(160, ge=1)
    num_workers: int = Field(1, ge=1, description=">1: spread the split over this many Ray actors")
    cpus_per_worker: int = Field(1, ge=1)
    use_gpu: bool = False
    merge_adapter: bool = Field(True, description="merge LoRA into the weights before generating (faster)")
    limit: int | None = Field(None, ge=1, description="score only the first N records of the split")
    out_dir: Path = Field(Path("runs/evaluate"), description="default --out")
    progress: bool = True


class BaselineSection(Strict):
    """TF-IDF character n-grams + logistic regression, one model per task."""

    ngram_min: int = Field(1, ge=1)
    ngram_max: int = Field(3, ge=1)
    max_features: int | None = Field(200_000, ge=1)
    C: float = Field(4.0, gt=0)
    class_weight: str | None = "balanced"


class EvaluateConfig(RunConfig):
    """`mentalglm evaluate CONFIG --checkpoint PATH --split S` and `mentalglm baseline CONFIG --split S`."""

    evaluate: EvaluateSection = EvaluateSection()
    baseline: BaselineSection = BaselineSection()
    ray: RaySection = RaySection()
