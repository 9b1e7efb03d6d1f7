"""Run storage that is a local folder or an object-store URI (`s3://bucket/runs`, `gs://…`, `file:///…`).

Ray Train persists checkpoints to a URI itself; what MentalGLM writes beside them (the exported `final/`
adapter, a sweep's `best/`) is built in a local folder first and then uploaded, and adapters named by URI are
downloaded into a local cache before loading. pyarrow (a Ray Train dependency) does the transfers.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from pathlib import Path

# Uploaded last: a folder whose marker is there is complete (object stores have no atomic rename).
COMPLETE_MARKER = "metrics.json"


def is_uri(path: str | Path | None) -> bool:
    """True for `scheme://…` locations (object stores, file://), False for plain paths."""
    return path is not None and "://" in str(path)


def join(base: str | Path, *parts: str) -> str | Path:
    """`base/part/…`: a string for URIs (Path would fold `//`), a Path otherwise."""
    if is_uri(base):
        return "/".join([str(base).rstrip("/"), *parts])
    return Path(base).joinpath(*parts)


def _filesystem(uri: str):
    import pyarrow.fs

    return pyarrow.fs.FileSystem.from_uri(uri)


def exists(location: str | Path) -> bool:
    """Whether a file or folder exists at a path or URI."""
    if not is_uri(location):
        return Path(location).exists()
    import pyarrow.fs

    fs, path = _filesystem(str(location))
    return fs.get_file_info(path).type != pyarrow.fs.FileType.NotFound


def read_text(location: str | Path) -> str:
    """The UTF-8 text of a file at a path or URI.

    Raises:
        OSError: the file is missing or unreadable.
    """
    if not is_uri(location):
        return Path(location).read_text(encoding="utf-8")
    fs, path = _filesystem(str(location))
    try:
        with fs.open_input_stream(path) as stream:
            return stream.read().decode("utf-8")
    except FileNotFoundError:
        raise
    except Exception as exc:  # pyarrow raises its own error types for missing objects
        raise OSError(f"cannot read {location}: {exc}") from None


def upload_dir(local: Path, uri: str) -> str:
    """Copy the folder `local` to `uri`, the completeness marker last; returns `uri`."""
    fs, root = _filesystem(uri)
    fs.create_dir(root, recursive=True)
    files = sorted(p for p in Path(local).rglob("*") if p.is_file())
    files.sort(key=lambda p: p.name == COMPLETE_MARKER)  # the marker goes last
    for file in files:
        upload_file(file, f"{uri.rstrip('/')}/{file.relative_to(local).as_posix()}")
    return uri


def upload_file(local: Path, uri: str) -> str:
    """Copy one file to `uri`; returns `uri`."""
    import pyarrow.fs

    fs, path = _filesystem(uri)
    fs.create_dir(path.rsplit("/", 1)[0], recursive=True)
    pyarrow.fs.copy_files(str(local), path, source_filesystem=pyarrow.fs.LocalFileSystem(), destination_filesystem=fs)
    return uri


def download_dir(uri: str, local: Path) -> Path:
    """Copy the folder at `uri` to `local` (which must not exist yet), atomically: into a temp folder that is
    renamed into place. When several processes race (Train workers of one node), the first rename wins."""
    import pyarrow.fs

    fs, root = _filesystem(uri)
    local.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{local.name}.", dir=local.parent))
    try:
        pyarrow.fs.copy_files(root, str(tmp), source_filesystem=fs,
                              destination_filesystem=pyarrow.fs.LocalFileSystem())
        try:
            os.rename(tmp, local)
        except OSError:
            if not local.exists():
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return local


def local_copy(location: str | Path, cache: Path | None = None) -> Path:
    """A local folder holding `location`: the path itself, or for a URI a cached download (re-fetched only
    when the cached copy lacks the completeness marker)."""
    if not is_uri(location):
        return Path(location)
    root = cache or Path(os.environ.get("MENTALGLM_CACHE", Path.home() / ".cache" / "mentalglm")) / "remote"
    target = root / hashlib.sha1(str(location).encode()).hexdigest()[:16]
    if not target.exists():  # downloads land atomically, so an existing copy is a complete one
        download_dir(str(location), target)
    return target
