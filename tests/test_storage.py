"""Run storage as a folder or an object-store URI (file:// here; s3:// and gs:// go through the same pyarrow
calls), and published folders: a manifest written last, verified by every reader, a cache keyed by it."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from mentalglm.runs import storage
from mentalglm.runs.files import write_dir_atomic
from mentalglm.runs.publish import (MANIFEST, AdapterError, publish_dir, resolve_adapter, upload_published,
                               verify_folder, write_manifest)


def test_join_keeps_uri_slashes_and_paths_as_paths(tmp_path):
    assert storage.join("s3://bucket/runs/", "a", "final") == "s3://bucket/runs/a/final"
    assert storage.join(tmp_path, "a") == tmp_path / "a"
    assert storage.is_uri("gs://b/x") and not storage.is_uri(tmp_path) and not storage.is_uri(None)


def _adapter_like(folder: Path, weights: bytes = b"\x00\x01" * 1000) -> Path:
    (folder / "sub").mkdir(parents=True)
    (folder / "metrics.json").write_text('{"finished": true}')
    (folder / "adapter_config.json").write_text("{}")
    (folder / "adapter_model.bin").write_bytes(b"\x00")
    (folder / "sub" / "weights.bin").write_bytes(weights)
    write_manifest(folder)
    return folder


def test_upload_then_download_round_trips_and_the_cache_follows_the_manifest(tmp_path, monkeypatch):
    monkeypatch.setenv("MENTALGLM_CACHE", str(tmp_path / "cache"))
    uri = f"file://{tmp_path}/bucket/run/final"
    upload_published(_adapter_like(tmp_path / "v1"), uri)
    assert storage.read_text(storage.join(uri, "metrics.json")) == '{"finished": true}'
    with pytest.raises(OSError):
        storage.read_text(storage.join(uri, "missing.json"))
    first = resolve_adapter(uri)
    assert first.parent == tmp_path / "cache" / "remote"
    assert (first / "sub" / "weights.bin").read_bytes() == b"\x00\x01" * 1000
    assert resolve_adapter(uri) == first  # same manifest: the cached copy
    # republished at the same URI (a retrained adapter): fetched again, never the stale copy
    upload_published(_adapter_like(tmp_path / "v2", b"\x07" * 3000), uri)
    second = resolve_adapter(uri)
    assert second != first and (second / "sub" / "weights.bin").read_bytes() == b"\x07" * 3000
    assert not list((tmp_path / "cache" / "remote").glob(".*"))  # no temp folders left


@pytest.mark.parametrize("damage", ["truncate", "delete", "change", "no_manifest"])
def test_a_damaged_published_folder_is_refused_naming_the_file(tmp_path, damage):
    folder = _adapter_like(tmp_path / "final")
    weights = folder / "sub" / "weights.bin"
    if damage == "truncate":
        weights.write_bytes(weights.read_bytes()[:100])
    elif damage == "delete":
        weights.unlink()
    elif damage == "change":
        weights.write_bytes(b"\x09" * 2000)
    else:
        (folder / MANIFEST).unlink()
    expected = {"truncate": "sub/weights.bin has 100 bytes", "delete": "sub/weights.bin is missing",
                "change": "sub/weights.bin does not match its SHA-256", "no_manifest": "manifest.json is missing"}
    with pytest.raises(AdapterError, match=expected[damage]) as err:
        resolve_adapter(folder)
    assert str(folder) in str(err.value)


def test_a_killed_upload_leaves_a_folder_readers_refuse(tmp_path, monkeypatch):
    monkeypatch.setenv("MENTALGLM_CACHE", str(tmp_path / "cache"))
    uri = f"file://{tmp_path}/bucket/final"
    upload_published(_adapter_like(tmp_path / "old"), uri)
    assert resolve_adapter(uri)
    new = _adapter_like(tmp_path / "new", os.urandom(1 << 20))
    script = ("import sys, time\nfrom pathlib import Path\nfrom mentalglm.runs import storage\n"
              "import mentalglm.runs.publish as p\nreal = storage.upload_file\n"
              "def slow(local, uri):\n    time.sleep(0.5)\n    return real(local, uri)\n"
              "storage.upload_file = slow\np.upload_published(Path(sys.argv[1]), sys.argv[2])\n")
    child = subprocess.Popen([sys.executable, "-c", script, str(new), uri])
    manifest = Path(f"{tmp_path}/bucket/final/{MANIFEST}")
    deadline = time.monotonic() + 60
    while manifest.exists() and time.monotonic() < deadline:  # the upload has begun: the old manifest is gone
        time.sleep(0.05)
    time.sleep(0.7)  # a file or two replaced, the new manifest not there yet
    child.send_signal(signal.SIGKILL)
    child.wait()
    with pytest.raises(AdapterError, match="manifest.json is missing"):
        resolve_adapter(uri)


def test_write_dir_atomic_swaps_and_keeps_the_old_folder_on_failure(tmp_path):
    target = tmp_path / "final"
    write_dir_atomic(target, lambda tmp: (tmp / "a").write_text("1"))

    def broken(tmp):
        (tmp / "a").write_text("2")
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError):
        write_dir_atomic(target, broken)
    assert (target / "a").read_text() == "1"
    write_dir_atomic(target, lambda tmp: (tmp / "b").write_text("3"))
    assert [p.name for p in target.iterdir()] == ["b"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["final"]  # no temp or old folders left


def test_publish_dir_writes_a_manifest_that_verifies(tmp_path):
    def fill(tmp):
        (tmp / "adapter_config.json").write_text("{}")
        (tmp / "adapter_model.bin").write_bytes(b"\x00")

    out = publish_dir(tmp_path / "best", fill, fingerprint={"sha256": "abc", "keys": {}})
    manifest = verify_folder(out)
    assert manifest["fingerprint"]["sha256"] == "abc"
    assert json.loads((out / MANIFEST).read_text())["files"]["adapter_config.json"]["size"] == 2


def test_an_adapter_is_loaded_from_a_uri(tiny_model_dir, tiny_adapter_dir, tmp_path, monkeypatch):
    from mentalglm.config import ModelConfig
    from mentalglm.model.inference import generate_responses, load_for_generation

    monkeypatch.setenv("MENTALGLM_CACHE", str(tmp_path / "cache"))
    uri = upload_published(Path(tiny_adapter_dir), f"file://{tmp_path}/bucket/final")
    cfg = ModelConfig(name_or_path=str(tiny_model_dir), dtype="float32")
    remote = generate_responses(*load_for_generation(cfg, uri), ["你好"], max_new_tokens=6)
    local = generate_responses(*load_for_generation(cfg, tiny_adapter_dir), ["你好"], max_new_tokens=6)
    assert remote == local
    with pytest.raises(AdapterError, match="manifest.json is missing"):
        load_for_generation(cfg, f"file://{tmp_path}/bucket/none")


def test_evaluate_and_serve_refuse_a_final_with_a_truncated_file(tiny_model_dir, tiny_adapter_dir,
                                                                  sample_data_dir, tmp_path):
    import shutil

    from mentalglm.config import ConfigError, load_config
    from mentalglm.config.evaluate import EvaluateConfig
    from mentalglm.config.serve import ServeConfig
    from mentalglm.evaluate.run import evaluate
    from mentalglm.serve.service import resolve_checkpoint
    from paths import REPO

    final = tmp_path / "final"
    shutil.copytree(tiny_adapter_dir, final)
    weights = final / "adapter_model.safetensors"
    weights.write_bytes(weights.read_bytes()[:-10])
    overrides = [f"model.name_or_path={tiny_model_dir}", f"data.dir={sample_data_dir}"]
    with pytest.raises(AdapterError, match=rf"{final}: adapter_model\.safetensors has \d+ bytes"):
        evaluate(load_config(EvaluateConfig, REPO / "configs/evaluate/tiny.yaml",
                             [*overrides, f"evaluate.checkpoint={final}", f"evaluate.out={tmp_path / 'out'}"]))
    with pytest.raises(ConfigError, match=r"serve\.checkpoint: .*adapter_model\.safetensors has \d+ bytes"):
        resolve_checkpoint(load_config(ServeConfig, REPO / "configs/serve/local.yaml", overrides), final)
    (final / "tokenizer.json").unlink()
    weights.write_bytes((tiny_adapter_dir / "adapter_model.safetensors").read_bytes())
    with pytest.raises(ConfigError, match=r"tokenizer\.json is missing"):
        resolve_checkpoint(load_config(ServeConfig, REPO / "configs/serve/local.yaml", overrides), final)
    assert not (tmp_path / "out").exists()
