"""`mentalglm train`: one Ray Train run, or several stages in order, each starting from the last one's adapter."""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

from mentalglm.config import set_key
from mentalglm.config.deepspeed import read_deepspeed_config
from mentalglm.config.train import TrainConfig
from mentalglm.errors import ConfigError
from mentalglm.plan import preflight_plan
from mentalglm.runs import RunLayout, publish
from mentalglm.train.driver import run_training
from mentalglm.train.export import TrainResult

log = logging.getLogger(__name__)


def stage_config(cfg: TrainConfig, index: int, previous_final: str | Path | None = None) -> TrainConfig:
    """The config of stage `index` of `cfg.stages`: its run folder under the parent's, its overrides applied, and
    `train.init_adapter` set to the previous stage's adapter when given.

    Raises:
        ConfigError: naming the stage, when its overrides do not validate.
    """
    stage = cfg.stages[index]
    data = cfg.model_dump(mode="json", exclude={"stages"})
    child = RunLayout.of(cfg.run).child(stage.name)
    data["run"].update(storage_path=child.storage_path, local_dir=str(child.local_dir), name=child.name)
    if previous_final is not None:
        data["train"]["init_adapter"] = str(previous_final)
    for key, value in stage.overrides.items():
        set_key(data, key, value)
    try:
        return TrainConfig.model_validate(data)
    except Exception as exc:
        raise ConfigError(f"stages.{index} ({stage.name}): {exc}") from None


def train(cfg: TrainConfig) -> TrainResult:
    """Run `cfg`: one Ray Train run, or each of `cfg.stages` in order, stage k+1 starting from stage k's adapter.

    With stages, stage runs live in `{storage_path}/{name}/{stage}/` and the last stage's adapter is also
    exported to `{storage_path}/{name}/final/`.

    Raises:
        ConfigError: a check failed before any worker started (the message names the key).
    """
    if not cfg.stages:
        return run_training(cfg)
    stage_cfgs = [stage_config(cfg, i, None) for i in range(len(cfg.stages))]  # all validated before stage 1
    if cfg.scaling.use_gpu and cfg.plan.check:
        for stage_cfg in stage_cfgs[1:]:  # stage 1 is checked by its own preflight
            preflight_plan(stage_cfg, read_deepspeed_config(stage_cfg))
    result: TrainResult | None = None
    for index in range(len(cfg.stages)):
        stage_cfg = stage_cfgs[0] if index == 0 else stage_config(cfg, index, result.final_location)
        log.info("stage %d/%d: %s", index + 1, len(cfg.stages), cfg.stages[index].name)
        result = run_training(stage_cfg)
        if result.final_dir is None:
            return result
    stage_final = result.final_dir
    layout = RunLayout.of(cfg.run)
    manifest = publish.verify_folder(stage_final)
    final = publish.publish_dir(layout.final_dir.resolve(),
                                lambda tmp: shutil.copytree(stage_final, tmp, dirs_exist_ok=True,
                                                            ignore=shutil.ignore_patterns(publish.MANIFEST)),
                                manifest.get("fingerprint"))
    if layout.remote:
        publish.upload_published(final, str(layout.final_location))
    return TrainResult(result.run_dir.parent, final, result.metrics, result.checkpoint, str(layout.final_location))
