"""`mentalglm data fetch`: the pinned public sources (`mentalglm.data.upstream`) into the raw-data folder.

From upstream (GitHub at each file's pinned commit) every file is checked against the manifest's SHA-256. From a
mirror (`source`: a folder or an http(s) URL laid out as the raw-data folder is), a `SHA256SUMS` file in the mirror,
if there is one, gives the hashes instead and says which files the mirror has (a mirror may hold training parts
only); without one, the mirror must hold the upstream files themselves.

A file is written as `NAME.part` and renamed to its final name only once its hash is right, so no partial or wrong
file ever sits under a final name. An interrupted download resumes from its `.part` (HTTP Range); failed requests
are retried with exponential backoff; a file already present with the right hash is not fetched again. Last,
`SOURCES.md` lists each file with its origin, commit, hash, licence terms and citation.
"""

from __future__ import annotations

import http.client
import logging
import shutil
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

from mentalglm.config import ConfigError
from mentalglm.config.schema import DataFetchConfig
from mentalglm.errors import DataError
from mentalglm.runs.files import file_sha256, write_text_atomic
from mentalglm.data.upstream import MANIFEST, TERMS, UpstreamFile

log = logging.getLogger(__name__)
_CHUNK = 1 << 20


class ChecksumError(DataError):
    """A fetched file's SHA-256 is not the pinned one (the message names the file and both hashes)."""


@dataclass
class FetchReport:
    """What a fetch did: files downloaded or copied, already present, and not in the mirror."""

    out_dir: Path
    fetched: list[str] = field(default_factory=list)
    present: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)


def _is_url(source: str) -> bool:
    return source.startswith(("http://", "https://"))


def _read_sums(text: str, where: str) -> dict[str, str]:
    sums: dict[str, str] = {}
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        digest, _, name = line.partition("  ")
        if len(digest) != 64 or not name:
            raise DataError(where, number, "not a `sha256  name` line")
        sums[name.strip().lstrip("*")] = digest.lower()
    return sums


def _mirror_sums(source: str, timeout_s: float) -> dict[str, str] | None:
    """The mirror's SHA256SUMS as {local name: sha256}, or None when it has none."""
    if _is_url(source):
        url = source.rstrip("/") + "/SHA256SUMS"
        try:
            with urllib.request.urlopen(url, timeout=timeout_s) as response:
                return _read_sums(response.read().decode("utf-8"), url)
        except urllib.error.HTTPError as exc:
            if exc.code == 404:
                return None
            raise DataError(url, None, f"HTTP {exc.code}") from None
        except (urllib.error.URLError, OSError) as exc:
            raise DataError(url, None, f"cannot reach the mirror ({exc})") from None
    path = Path(source) / "SHA256SUMS"
    return _read_sums(path.read_text(encoding="utf-8"), str(path)) if path.exists() else None


def _origin(file: UpstreamFile, source: str | None) -> str:
    if source is None:
        return file.url
    return (source.rstrip("/") + "/" + file.local) if _is_url(source) else str(Path(source) / file.local)


def _download(url: str, part: Path, retries: int, timeout_s: float, label: str) -> None:
    """Fill `part` with the bytes at `url`, resuming from what it holds; retried with backoff."""
    from tqdm import tqdm

    for attempt in range(retries + 1):
        have = part.stat().st_size if part.exists() else 0
        request = urllib.request.Request(url, headers={"Range": f"bytes={have}-"} if have else {})
        try:
            with urllib.request.urlopen(request, timeout=timeout_s) as response:
                resumed = have and response.status == 206
                total = int(response.headers.get("Content-Length") or 0) + (have if resumed else 0)
                with part.open("ab" if resumed else "wb") as handle, tqdm(
                        total=total or None, initial=have if resumed else 0, unit="B", unit_scale=True,
                        desc=label, leave=False) as bar:
                    for chunk in iter(lambda: response.read(_CHUNK), b""):
                        handle.write(chunk)
                        bar.update(len(chunk))
                if total and part.stat().st_size < total:
                    raise ConnectionError(f"connection closed after {part.stat().st_size} of {total} bytes")
                return
        except urllib.error.HTTPError as exc:
            if exc.code == 416 and have:  # asked past the end: the part is whole already
                return
            if exc.code < 500 or attempt == retries:
                raise DataError(url, None, f"HTTP {exc.code}") from None
        except (urllib.error.URLError, http.client.HTTPException, ConnectionError, TimeoutError, OSError) as exc:
            if attempt == retries:
                raise DataError(url, None, f"download failed after {retries + 1} attempts ({exc})") from None
        delay = min(30.0, 0.5 * 2 ** attempt)
        log.info("%s: retrying in %.1f s (attempt %d of %d)", label, delay, attempt + 2, retries + 1)
        time.sleep(delay)


def _copy(path: Path, part: Path) -> None:
    with path.open("rb") as src, part.open("wb") as dst:
        shutil.copyfileobj(src, dst, _CHUNK)


def fetch_file(file: UpstreamFile, expected: str, out_dir: Path, source: str | None, retries: int = 4,
               timeout_s: float = 60.0) -> bool:
    """Put `file` at `out_dir/file.local` with SHA-256 `expected`; returns False when it was there already.

    Raises:
        ChecksumError: the fetched bytes hash to something else (no file is left under the final name).
        DataError: the file cannot be fetched (the message names its URL or path).
    """
    dest = out_dir / file.local
    if dest.exists() and file_sha256(dest) == expected:
        return False
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    origin = _origin(file, source)
    if source is None or _is_url(source):
        _download(origin, part, retries, timeout_s, file.local)
    else:
        if not Path(origin).exists():
            raise DataError(origin, None, "not in the mirror")
        _copy(Path(origin), part)
    got = file_sha256(part)
    if got != expected:
        part.unlink()
        raise ChecksumError(file.local, None, f"SHA-256 {got} does not match the pinned {expected} (from "
                                              f"{origin}); nothing was written under {dest}")
    part.replace(dest)
    return True


def fetch_sources(cfg: DataFetchConfig, files: Iterable[UpstreamFile] = MANIFEST) -> FetchReport:
    """Fetch the files of `cfg.splits` into `cfg.out_dir` (see the module docstring) and write `SOURCES.md`.

    Raises:
        ChecksumError: a file's hash differs (naming the file and both hashes).
        DataError: a file cannot be fetched, or the mirror's SHA256SUMS is malformed.
    """
    out = Path(cfg.out_dir)
    source = cfg.source
    if source is not None and not _is_url(source) and not Path(source).is_dir():
        raise ConfigError(f"source: {source} is neither a folder nor an http(s) URL")
    sums = _mirror_sums(source, cfg.timeout_s) if source is not None else None
    report = FetchReport(out)
    wanted = [f for f in files if f.split in cfg.splits]
    for file in wanted:
        if sums is not None and file.local not in sums:
            report.missing.append(file.local)  # a mirror of training parts has no test files
            continue
        expected = sums[file.local] if sums is not None else file.sha256
        fetched = fetch_file(file, expected, out, source, cfg.retries, cfg.timeout_s)
        (report.fetched if fetched else report.present).append(file.local)
        log.info("%s: %s", file.local, "fetched" if fetched else "already present")
    out.mkdir(parents=True, exist_ok=True)
    write_text_atomic(out / "SOURCES.md", _sources_md([f for f in wanted if f.local not in report.missing],
                                                       report.missing, source, sums))
    return report


def _sources_md(files: list[UpstreamFile], missing: list[str], source: str | None,
                sums: dict[str, str] | None) -> str:
    lines = ["# Sources of this raw-data folder", "",
             "Written by `mentalglm data fetch`. Each file is pinned by commit and checked by SHA-256"
             + (" (from the mirror's SHA256SUMS: a mirror may differ from upstream on purpose)" if sums else "")
             + ".", "", f"Fetched from: {source or 'upstream (raw.githubusercontent.com)'}", "",
             "| file | role | repository | commit | upstream path | sha256 |", "|---|---|---|---|---|---|"]
    for f in files:
        digest = sums[f.local] if sums is not None else f.sha256
        lines.append(f"| `{f.local}` | {f.role} | {f.repository} | `{f.commit[:12]}` | `{f.path}` | `{digest}` |")
    if missing:
        lines += ["", "Not in the mirror (fetch them from upstream to evaluate on them): "
                  + ", ".join(f"`{m}`" for m in missing)]
    lines += ["", "## Terms and citations", ""]
    for repository in sorted({f.repository for f in files}):
        terms, cite = TERMS.get(repository, ("Terms: see the repository.", "see the repository."))
        lines.append(f"- **{repository}** (https://github.com/{repository}): {terms} Cite: {cite}")
    return "\n".join(lines) + "\n"
