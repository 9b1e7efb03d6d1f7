"""Published folders (a run's `final/`, a sweep's `best/`): a manifest written last, verified by every reader.

`manifest.json` lists every file of the folder with its size and SHA-256, plus the fingerprint of the config
that produced it. It is written (or uploaded) after every other file, and an upload first removes the old
manifest, so a folder is *published* exactly when its manifest is there and every file matches it: a folder cut
short by a crash, a killed upload or a truncated file is refused, naming the path and the file.

Readers go through `resolve_adapter`: a local folder is verified in place; a URI is fetched into a cache keyed by
the manifest's own hash, so an adapter retrained to the same URI is fetched again, never served stale.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import time
from pathlib import Path
from typing import Any

from mentalglm.runs import storage
from mentalglm.runs.files import file_sha256
from mentalglm.errors import AdapterError

MANIFEST = "manifest.json"
WEIGHTS = frozenset({"adapter_model.safetensors", "adapter_model.bin"})
_SHA256 = re.compile(r"[0-9a-f]{64}")
_SAFE_NAME = re.compile(r"[^\x00-\x1f\\\ud800-\udfff]{1,4096}")  # no control characters, backslashes, surrogates


def build_manifest(folder: Path, fingerprint: dict[str, Any] | None = None) -> dict[str, Any]:
    """The manifest of `folder` as it is now (every file but the manifest itself)."""
    files = {p.relative_to(folder).as_posix(): {"size": p.stat().st_size, "sha256": file_sha256(p)}
             for p in sorted(folder.rglob("*")) if p.is_file() and p.name != MANIFEST}
    return {"format": 1, "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "files": files,
            "fingerprint": fingerprint}


def write_manifest(folder: Path, fingerprint: dict[str, Any] | None = None) -> dict[str, Any]:
    """Write `folder/manifest.json` (atomically, last): the folder is published from then on."""
    from mentalglm.runs.files import write_json_atomic

    manifest = build_manifest(Path(folder), fingerprint)
    write_json_atomic(Path(folder) / MANIFEST, manifest)
    return manifest


def read_manifest(location: str | Path) -> tuple[dict[str, Any], str]:
    """(manifest, sha256 of its bytes) of a folder or URI.

    Raises:
        AdapterError: no manifest (never published, or cut short), or one that is not JSON.
    """
    where = storage.join(location, MANIFEST)
    try:
        text = storage.read_text(where)
    except OSError:
        raise AdapterError(f"{location} is not a published adapter folder: {MANIFEST} is missing (it is written "
                           "last, so the folder is incomplete or was not written by mentalglm; "
                           "`python -m mentalglm.runs.publish FOLDER` publishes a folder you trust)") from None
    except UnicodeDecodeError:
        raise AdapterError(f"{where} is not a valid manifest (not UTF-8)") from None
    try:
        manifest = json.loads(text)
    except ValueError:
        raise AdapterError(f"{where} is not a valid manifest (not JSON)") from None
    check_manifest(manifest, where)
    return manifest, hashlib.sha256(text.encode("utf-8")).hexdigest()


def check_manifest(manifest: Any, where: str) -> None:
    """Check the shape of a manifest: `files` maps names inside the folder (relative, no `..`) to `{"size": int,
    "sha256": 64 hex digits}`, and lists the adapter's config and weights.

    Raises:
        AdapterError: naming `where`, the entry and what is wrong with it.
    """
    files = manifest.get("files") if isinstance(manifest, dict) else None
    if not isinstance(files, dict):
        raise AdapterError(f"{where} is not a valid manifest (no `files` object)")
    for name, entry in files.items():
        parts = name.split("/") if isinstance(name, str) and _SAFE_NAME.fullmatch(name) else [".."]
        if any(p in ("", ".", "..") for p in parts):
            raise AdapterError(f"{where}: entry {name!r} is not a file name inside the folder")
        if not (isinstance(entry, dict) and type(entry.get("size")) is int and entry["size"] >= 0
                and isinstance(entry.get("sha256"), str) and _SHA256.fullmatch(entry["sha256"])):
            raise AdapterError(f"{where}: entry {name!r} needs a size (bytes, an integer) and a sha256 (64 hex "
                               "digits)")
    if "adapter_config.json" not in files:
        raise AdapterError(f"{where}: lists no adapter_config.json (not a PEFT adapter folder)")
    if not WEIGHTS.intersection(files):
        raise AdapterError(f"{where}: lists no adapter weights ({' or '.join(sorted(WEIGHTS))}), so they could "
                           "not be checked")


def _check_safetensors(path: Path, name: str, folder: Path) -> None:
    """A safetensors file starts with an 8-byte header length and that much JSON: checked without loading it."""
    size = path.stat().st_size
    with path.open("rb") as handle:
        head = handle.read(8)
        length = int.from_bytes(head, "little") if len(head) == 8 else -1
        try:
            if not 2 <= length <= min(size - 8, 100 << 20):
                raise ValueError
            json.loads(handle.read(length).decode("utf-8"))
        except (ValueError, UnicodeDecodeError):
            raise AdapterError(f"{folder}: {name} is not a safetensors file (its header does not parse)") from None


def verify_folder(folder: Path, manifest: dict[str, Any] | None = None) -> dict[str, Any]:
    """Check `folder` holds exactly the files of its manifest, each inside the folder with its size and SHA-256,
    and that its safetensors weights parse; return the manifest.

    Raises:
        AdapterError: naming the folder and the first file that is missing, unlisted, outside the folder, of the
            wrong size or content, or not a safetensors file; or a malformed manifest.
    """
    folder = Path(folder)
    if manifest is None:
        manifest, _ = read_manifest(folder)
    else:
        check_manifest(manifest, str(folder / MANIFEST))
    root = folder.resolve()
    for name, entry in sorted(manifest["files"].items()):
        path = folder / name
        if not path.resolve().is_relative_to(root):
            raise AdapterError(f"{folder}: {name} resolves outside the folder; refused")
        if not path.is_file():
            raise AdapterError(f"{folder}: {name} is missing (listed in {MANIFEST})")
        if path.stat().st_size != entry["size"]:
            raise AdapterError(f"{folder}: {name} has {path.stat().st_size} bytes, {MANIFEST} says {entry['size']}"
                               " (truncated or replaced)")
        if file_sha256(path) != entry["sha256"]:
            raise AdapterError(f"{folder}: {name} does not match its SHA-256 in {MANIFEST} (changed after "
                               "publishing)")
        if name.endswith(".safetensors"):
            _check_safetensors(path, name, folder)
    unlisted = sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*")
                      if p.is_file() and p.name != MANIFEST and p.relative_to(folder).as_posix() not in
                      manifest["files"])
    if unlisted:
        raise AdapterError(f"{folder}: {unlisted[0]} is not in {MANIFEST} (added after publishing)"
                           + (f", nor are {len(unlisted) - 1} more" if len(unlisted) > 1 else ""))
    return manifest


def check_adapter(location: str | Path) -> None:
    """Every check of an adapter location that needs no model and no cluster: a local folder is verified in place
    (`verify_folder`); a URI's manifest is read and checked (its files are verified where they are fetched).

    Raises:
        AdapterError: naming the location and the first problem.
    """
    if storage.is_uri(location):
        read_manifest(location)
    else:
        verify_folder(Path(location))


def cache_root() -> Path:
    """Where adapters named by URI are fetched to (`MENTALGLM_CACHE`, default ~/.cache/mentalglm)."""
    return Path(os.environ.get("MENTALGLM_CACHE", Path.home() / ".cache" / "mentalglm")) / "remote"


def resolve_adapter(location: str | Path, cache: Path | None = None) -> Path:
    """A verified local folder holding the published adapter at `location` (a folder or an object-store URI).

    A URI is fetched into `cache/<hash of uri>-<hash of its manifest>`: a new publish at the same URI has a new
    manifest, hence a new cache entry.

    Raises:
        AdapterError: the location has no manifest, or a file differs from it (named in the message).
    """
    if not storage.is_uri(location):
        verify_folder(Path(location))
        return Path(location)
    manifest, manifest_hash = read_manifest(location)
    key = hashlib.sha1(str(location).encode()).hexdigest()[:12] + "-" + manifest_hash[:16]
    target = (cache or cache_root()) / key
    if not target.exists():
        storage.download_dir(str(location), target)
    try:
        verify_folder(target, manifest)
    except AdapterError as exc:
        shutil.rmtree(target, ignore_errors=True)  # the next reader fetches again
        raise AdapterError(f"{location} (fetched to {target}): {exc}") from None
    return target


def publish_dir(target: str | Path, fill, fingerprint: dict[str, Any] | None = None) -> Path:
    """Build a folder with `fill(tmp)`, write its manifest, and put it in place of the local folder `target`
    (a rename swap: `target` always names a complete folder, the old one until the new one is in)."""
    from mentalglm.runs.files import write_dir_atomic

    def fill_and_sign(tmp: Path) -> None:
        fill(tmp)
        write_manifest(tmp, fingerprint)

    return write_dir_atomic(target, fill_and_sign)


def upload_published(local: Path, uri: str) -> str:
    """Upload a published folder to `uri`: the old manifest is removed first, the new one uploaded last, so a
    reader never takes a half-replaced folder for a complete one."""
    storage.delete_file(storage.join(uri, MANIFEST))
    files = sorted(p for p in Path(local).rglob("*") if p.is_file() and p.name != MANIFEST)
    for file in files:
        storage.upload_file(file, f"{uri.rstrip('/')}/{file.relative_to(local).as_posix()}")
    storage.upload_file(Path(local) / MANIFEST, f"{uri.rstrip('/')}/{MANIFEST}")
    return uri


def _main(argv: list[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(prog="python -m mentalglm.runs.publish",
                                     description="Write manifest.json for an adapter folder you trust (e.g. one "
                                                 "saved by PEFT elsewhere), so mentalglm will load it.")
    parser.add_argument("folder", type=Path)
    args = parser.parse_args(argv)
    if not (args.folder / "adapter_config.json").is_file():
        print(f"{args.folder}: no adapter_config.json (not a PEFT adapter folder)")
        return 2
    manifest = write_manifest(args.folder)
    print(f"{args.folder / MANIFEST}: {len(manifest['files'])} files")
    return 0


if __name__ == "__main__":
    raise SystemExit(_main())

