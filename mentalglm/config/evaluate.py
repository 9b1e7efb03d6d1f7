"""Config of `mentalglm evaluate` and `mentalglm baseline`."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field

from mentalglm.config.schema import RaySection, RunConfig, SplitName, Strict


class EvaluateSection(Strict):
    """Generation and scoring."""

    batch_size: int = Field(8, ge=1)
    max_new_tokens: int = Field(160, ge=1)
    num_workers: int = Field(1, ge=1, description=">1: spread the split over this many Ray actors")
    cpus_per_worker: int = Field(1, ge=1)
    use_gpu: bool = False
    merge_adapter: bool = Field(True, description="merge LoRA into the weights before generating (faster)")
    limit: int | None = Field(None, ge=1, description="score a seeded sample of N records of the split, "
                              "stratified by task and label (so both classes of a split sorted by label are in it)")
    sample_seed: int = Field(0, description="the seed of the `limit` sample")
    out_dir: Path = Field(Path("runs/evaluate"), description="where `out` defaults to: {out_dir}/{split} "
                          "(baseline: {out_dir}/baseline-{split})")
    progress: bool = True
    checkpoint: str | None = Field(None, description="PEFT adapter folder or URI to score (--checkpoint), e.g. "
                                   "runs/NAME/final; None: the base model")
    split: SplitName = Field("test", description="the split to score (--split)")
    out: Path | None = Field(None, description="output folder (--out); None: see out_dir")
    endpoint: str | None = Field(None, description="score through a running service at this URL instead of a "
                                 "local model (--endpoint)")
    judge: Path | None = Field(None, description="a judge config (configs/judge/*.yaml): also score the "
                               "explanations with an LLM judge (--judge)")
    zero_shot: bool | None = Field(None, description="append each task's labels and answer sentence to the "
                                   "instruction (a model never trained on C-IMHI needs them); None: when the base "
                                   "model itself answers (no checkpoint, no endpoint)")

    def output_dir(self, baseline: bool = False) -> Path:
        """Where this run's outputs go: `out`, else `{out_dir}/{split}` (`{out_dir}/baseline-{split}`)."""
        if self.out is not None:
            return self.out
        return self.out_dir / (f"baseline-{self.split}" if baseline else self.split)


class BaselineSection(Strict):
    """TF-IDF character n-grams + logistic regression, one model per task."""

    ngram_min: int = Field(1, ge=1)
    ngram_max: int = Field(3, ge=1)
    max_features: int | None = Field(200_000, ge=1)
    C: float = Field(4.0, gt=0)
    class_weight: str | None = "balanced"


class EvaluateConfig(RunConfig):
    """`mentalglm evaluate CONFIG evaluate.checkpoint=PATH evaluate.split=S` and `mentalglm baseline CONFIG`."""

    evaluate: EvaluateSection = EvaluateSection()
    baseline: BaselineSection = BaselineSection()
    ray: RaySection = RaySection()
