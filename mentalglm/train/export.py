"""A run's final adapter: exported from its last checkpoint, or found already published by an earlier run."""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from mentalglm.config.train import TrainConfig
from mentalglm.errors import AdapterError
from mentalglm.runs import publish, storage
from mentalglm.runs.files import write_json_atomic
from mentalglm.train.checkpointing import ADAPTER_DIR
from mentalglm.train.fingerprint import refuse_if_changed


@dataclass
class TrainResult:
    """What a run left: its folder, its exported adapter (None if stopped early), the last metrics."""

    run_dir: Path
    final_dir: Path | None
    metrics: dict[str, Any]
    checkpoint: str | None
    final_location: str | None = None  # final/ in run storage: final_dir's path, or its URI when uploaded
    already_finished: bool = False  # found finished in run storage: no Train run happened, nothing was reported


def _config_text(cfg: TrainConfig) -> str:
    return yaml.safe_dump(cfg.model_dump(mode="json"), allow_unicode=True, sort_keys=False)


def already_finished(final_location: str | Path, final_dir: Path, fingerprint: dict[str, Any],
                      cfg: TrainConfig) -> TrainResult | None:
    """The earlier result when `final_location` (a folder or URI) holds a published, finished run with this
    fingerprint, else None; an uploaded final/ is fetched (and verified) into `final_dir` when the local copy is
    missing or differs.

    Raises:
        ConfigError: the published run has another fingerprint and `run.on_config_change` is `error`.
    """
    try:
        manifest, _ = publish.read_manifest(final_location)
        metrics = json.loads(storage.read_text(storage.join(final_location, "metrics.json")))
    except (AdapterError, OSError, ValueError):
        return None
    old = manifest.get("fingerprint") or {}
    if not refuse_if_changed(cfg, f"{final_location} holds a finished run", old, fingerprint):
        return None
    if not metrics.get("finished"):
        return None
    if storage.is_uri(final_location):
        fetched = publish.resolve_adapter(final_location)
        try:
            publish.verify_folder(final_dir, manifest)
        except AdapterError:
            publish.publish_dir(final_dir, lambda tmp: shutil.copytree(fetched, tmp, dirs_exist_ok=True),
                                manifest.get("fingerprint"))
    else:
        publish.verify_folder(final_dir, manifest)
    return TrainResult(final_dir.parent, final_dir, metrics, metrics.get("checkpoint"), str(final_location),
                       already_finished=True)


def export_final(checkpoint_dir: Path, final_dir: Path, cfg: TrainConfig, metrics: dict[str, Any],
                 fingerprint: dict[str, Any]) -> Path:
    """Publish the checkpoint's adapter and tokenizer to `final_dir` with the resolved config, final metrics and
    a manifest carrying the run's fingerprint."""
    def fill(tmp: Path) -> None:
        shutil.copytree(checkpoint_dir / ADAPTER_DIR, tmp, dirs_exist_ok=True)
        (tmp / "config.yaml").write_text(_config_text(cfg), encoding="utf-8")
        write_json_atomic(tmp / "metrics.json", {"checkpoint": str(checkpoint_dir), **metrics})

    return publish.publish_dir(final_dir, fill, fingerprint)
