"""Configs of `mentalglm rate export` and `mentalglm rate import`."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field

from mentalglm.config.schema import SplitName, Strict


class RateExportConfig(Strict):
    """`mentalglm rate export CONFIG`: systems' explanations -> a blinded rating set in `out_dir`."""

    systems: dict[str, Path] = Field(min_length=1, description="system name -> its predictions.jsonl (evaluate's "
                                                               "output) or a teacher's review.csv")
    data_dir: Path | None = Field(None, description="the built records the predictions are of (posts and reference "
                                                    "explanations come from there); not needed for review.csv")
    split: SplitName = "test"
    per_system: int | None = Field(100, ge=1, description="items per system, stratified by task and label; null: all")
    seed: int = 0
    out_dir: Path = Field(description="labelstudio/ (config.xml, tasks.json), ratings.csv for spreadsheet raters, "
                                      "and key/ (which system each item is; keep it from the raters)")


class RateImportConfig(Strict):
    """`mentalglm rate import CONFIG`: ratings back, unblinded, summarised into `out_dir`."""

    labelstudio: list[Path] = Field([], description="Label Studio JSON exports")
    csv: list[Path] = Field([], description="filled copies of ratings.csv, one or more raters each")
    mentalllama: list[Path] = Field([], description="MentalLLaMA's released rating files (each file a system)")
    key: Path | None = Field(None, description="the export's key/ folder (needed for Label Studio and CSV ratings)")
    bootstrap: int = Field(2000, ge=100, description="resamples of items for the 95% intervals")
    seed: int = 0
    out_dir: Path
