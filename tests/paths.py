"""Paths and config helpers shared by the tests (importable as `paths`)."""

from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"
SAMPLE = REPO / "sample_data"


def sample_build_config(out_dir: Path, **overrides):
    """A DataBuildConfig over the project's sample files (absolute paths), writing to `out_dir`."""
    from mentalglm.config import DataBuildConfig, load_config

    cfg = load_config(DataBuildConfig, REPO / "configs/data/sample.yaml", [f"out_dir={out_dir}"])
    for source in cfg.sources:
        source.splits = {k: REPO / v for k, v in source.splits.items()}
    return cfg.model_copy(update=overrides)
