"""Run storage that is a local folder or an object-store URI (`s3://bucket/runs`, `gs://…`, `file:///…`).

Ray Train persists checkpoints to a URI itself; what MentalGLM writes beside them (the exported `final/`
adapter, a sweep's `best/`) is built in a local folder first and then uploaded (`mentalglm.runs.publish`, which also
verifies what readers fetch). pyarrow (a Ray Train dependency) does the transfers.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

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


def write_text(location: str | Path, text: str) -> None:
    """Write UTF-8 text to a file at a path (atomically: temp file, then rename) or URI (an object is replaced
    whole)."""
    if not is_uri(location):
        from mentalglm.runs.files import write_text_atomic

        write_text_atomic(location, text)
        return
    fs, path = _filesystem(str(location))
    fs.create_dir(path.rsplit("/", 1)[0], recursive=True)
    with fs.open_output_stream(path) as stream:
        stream.write(text.encode("utf-8"))


def delete_file(location: str | Path) -> None:
    """Remove one file at a path or URI; a missing file is not an error."""
    if not is_uri(location):
        Path(location).unlink(missing_ok=True)
        return
    fs, path = _filesystem(str(location))
    try:
        fs.delete_file(path)
    except FileNotFoundError:
        pass
    except OSError as exc:  # pyarrow's "not found" on some stores
        if exists(location):
            raise OSError(f"cannot delete {location}: {exc}") from None


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
