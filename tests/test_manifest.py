"""A published folder's manifest covers the weights and stays inside the folder: each way around it seen in review
(issue 27) is refused by `mentalglm serve` and `mentalglm evaluate` with exit status 2 and one message naming the
folder and the file, before any model loads or Ray starts; random manifests give only `AdapterError`."""

import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mentalglm.runs.publish import MANIFEST, AdapterError, verify_folder, write_manifest
from paths import REPO

CLI = str(Path(sys.executable).parent / "mentalglm")
SYSTEM_FILE = Path("/etc/hostname") if Path("/etc/hostname").is_file() else Path(sys.executable).resolve()


def _entry(path: Path) -> dict:
    return {"size": path.stat().st_size, "sha256": hashlib.sha256(path.read_bytes()).hexdigest()}


def _edit(final: Path, change) -> None:
    manifest = json.loads((final / MANIFEST).read_text())
    change(manifest["files"])
    (final / MANIFEST).write_text(json.dumps(manifest))


def _weights_unlisted_and_zeroed(final):
    _edit(final, lambda files: files.pop("adapter_model.safetensors"))
    (final / "adapter_model.safetensors").write_bytes(b"\x00" * 100)


def _empty_entry(final):
    _edit(final, lambda files: files.update({"adapter_config.json": {}}))


def _name_outside(final):
    _edit(final, lambda files: files.update({"../../../../../../.." + str(SYSTEM_FILE): _entry(SYSTEM_FILE)}))


def _symlink_outside(final):
    (final / "tokenizer.json").unlink()
    (final / "tokenizer.json").symlink_to(SYSTEM_FILE)
    _edit(final, lambda files: files.update({"tokenizer.json": _entry(SYSTEM_FILE)}))


def _zeroed_then_republished(final):
    (final / "adapter_model.safetensors").write_bytes(b"\x00" * 100)
    write_manifest(final)  # someone "fixed" the hashes: the bytes are still no weights


def _file_added(final):
    (final / "adapter_model.bin").write_bytes(b"\x00" * 100)  # PEFT would load this one too


M = MANIFEST
DAMAGES = {
    "weights-unlisted": (_weights_unlisted_and_zeroed, "{f}/{m}: lists no adapter weights (adapter_model.bin or "
                                                       "adapter_model.safetensors), so they could not be checked"),
    "entry-empty": (_empty_entry, "{f}/{m}: entry 'adapter_config.json' needs a size (bytes, an integer) and a "
                                  "sha256 (64 hex digits)"),
    "name-outside": (_name_outside, "{f}/{m}: entry '../../../../../../..{s}' is not a file name inside the folder"),
    "symlink-outside": (_symlink_outside, "{f}: tokenizer.json resolves outside the folder; refused"),
    "weights-not-safetensors": (_zeroed_then_republished, "{f}: adapter_model.safetensors is not a safetensors file "
                                                          "(its header does not parse)"),
    "file-added": (_file_added, "{f}: adapter_model.bin is not in {m} (added after publishing)"),
}


@pytest.mark.parametrize("damage", DAMAGES)
def test_verify_folder_refuses_each_way_around_the_manifest(tiny_adapter_dir, tmp_path, damage):
    final = shutil.copytree(tiny_adapter_dir, tmp_path / "final")
    change, message = DAMAGES[damage]
    change(final)
    with pytest.raises(AdapterError) as refused:
        verify_folder(final)
    assert str(refused.value) == message.format(f=final, m=M, s=SYSTEM_FILE)


@pytest.mark.parametrize("verb", ["serve", "evaluate"])
@pytest.mark.parametrize("damage", ["weights-unlisted", "name-outside", "weights-not-safetensors"])
def test_serve_and_evaluate_refuse_with_exit_2_before_ray_starts(tiny_model_dir, tiny_adapter_dir, sample_data_dir,
                                                                 tmp_path, verb, damage):
    final = shutil.copytree(tiny_adapter_dir, tmp_path / "final")
    change, message = DAMAGES[damage]
    change(final)
    config = {"serve": "configs/serve/local.yaml", "evaluate": "configs/evaluate/tiny.yaml"}[verb]
    ray_tmp = tmp_path / "raytmp"  # where a Ray started by this command would put its session
    start = time.monotonic()
    run = subprocess.run([CLI, verb, str(REPO / config), "--checkpoint", str(final),
                          f"model.name_or_path={tiny_model_dir}", f"data.dir={sample_data_dir}"],
                         capture_output=True, text=True, timeout=120, cwd=tmp_path,
                         env={**os.environ, "RAY_TMPDIR": str(ray_tmp), "HF_HUB_OFFLINE": "1"})
    elapsed = time.monotonic() - start
    detail = message.format(f=final, m=M, s=SYSTEM_FILE)
    expected = (f"error: serve.checkpoint: {detail}; train one with `mentalglm train` or pass --checkpoint "
                "runs/NAME/final\n") if verb == "serve" else f"error: {detail}\n"
    assert (run.returncode, run.stderr, run.stdout) == (2, expected, ""), elapsed
    assert not ray_tmp.exists(), "the refusal started Ray"
    assert not (tmp_path / "runs").exists()  # evaluate wrote no outputs


# JSON values of every shape, at every place of a manifest: what a hand-edited or hostile file may hold.
JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=12),
                    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner,
                                                                                max_size=4), max_leaves=12)
NAMES = st.sampled_from(["adapter_config.json", "adapter_model.safetensors", "adapter_model.bin", "../x", "/etc/x",
                         "a/../b", "", ".", "sub/w.bin", "a\\b", "a\x00b"]) | st.text(max_size=20)
ENTRY = st.fixed_dictionaries({}, optional={"size": st.integers(-5, 10**6) | JSON,
                                            "sha256": st.sampled_from(["0" * 64, "F" * 64]) | JSON}) | JSON
MANIFESTS = JSON | st.fixed_dictionaries({"files": st.dictionaries(NAMES, ENTRY, max_size=5) | JSON},
                                         optional={"format": JSON, "fingerprint": JSON})


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(manifest=MANIFESTS)
def test_any_json_manifest_gives_an_adapter_error_or_verifies(manifest):
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "final"
        (folder / "sub").mkdir(parents=True)
        (folder / "adapter_config.json").write_text("{}")
        (folder / "sub" / "w.bin").write_bytes(b"\x01\x02")
        (folder / MANIFEST).write_text(json.dumps(manifest))
        try:
            verify_folder(folder)
        except AdapterError:
            pass
        try:
            verify_folder(folder, manifest)
        except AdapterError:
            pass
