"""Run storage as a folder or an object-store URI (file:// here; s3:// and gs:// go through the same pyarrow
calls): upload with the completeness marker last, atomic cached downloads, adapters loaded from a URI."""

from pathlib import Path

import pytest

from mentalglm import storage


def test_join_keeps_uri_slashes_and_paths_as_paths(tmp_path):
    assert storage.join("s3://bucket/runs/", "a", "final") == "s3://bucket/runs/a/final"
    assert storage.join(tmp_path, "a") == tmp_path / "a"
    assert storage.is_uri("gs://b/x") and not storage.is_uri(tmp_path) and not storage.is_uri(None)


def test_upload_then_cached_download_round_trips(tmp_path, monkeypatch):
    folder = tmp_path / "final"
    (folder / "sub").mkdir(parents=True)
    (folder / "metrics.json").write_text('{"finished": true}')
    (folder / "adapter_config.json").write_text("{}")
    (folder / "sub" / "weights.bin").write_bytes(b"\x00\x01" * 1000)
    uri = f"file://{tmp_path}/bucket/run/final"
    storage.upload_dir(folder, uri)
    assert storage.exists(uri) and storage.read_text(storage.join(uri, "metrics.json")) == '{"finished": true}'
    with pytest.raises(OSError):
        storage.read_text(storage.join(uri, "missing.json"))

    monkeypatch.setenv("MENTALGLM_CACHE", str(tmp_path / "cache"))
    local = storage.local_copy(uri)
    assert local.parent == tmp_path / "cache" / "remote"
    assert (local / "sub" / "weights.bin").read_bytes() == b"\x00\x01" * 1000
    (local / "marker").write_text("kept")
    assert storage.local_copy(uri) == local and (local / "marker").exists()  # cached: not fetched again
    assert storage.local_copy(folder) == folder
    assert not list((tmp_path / "cache" / "remote").glob(".*"))  # no temp folders left


def test_an_adapter_is_loaded_from_a_uri(tiny_model_dir, tiny_adapter_dir, tmp_path, monkeypatch):
    from mentalglm.config import ModelConfig
    from mentalglm.evaluate.generation import generate_responses, load_for_generation

    monkeypatch.setenv("MENTALGLM_CACHE", str(tmp_path / "cache"))
    uri = storage.upload_dir(Path(tiny_adapter_dir), f"file://{tmp_path}/bucket/final")
    cfg = ModelConfig(name_or_path=str(tiny_model_dir), dtype="float32")
    remote = generate_responses(*load_for_generation(cfg, uri), ["你好"], max_new_tokens=6)
    local = generate_responses(*load_for_generation(cfg, tiny_adapter_dir), ["你好"], max_new_tokens=6)
    assert remote == local
    with pytest.raises(FileNotFoundError, match="not a PEFT adapter folder"):
        load_for_generation(cfg, f"file://{tmp_path}/bucket/none")
