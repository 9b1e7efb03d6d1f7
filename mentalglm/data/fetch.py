"""`mentalglm data fetch`: the pinned public sources (`mentalglm.data.upstream`) into the raw-data folder.

Every file is checked against its pinned SHA-256, whatever it is fetched from: upstream (GitHub at the file's pinned
commit) or a mirror (`source`: a folder or an http(s) URL laid out as the raw-data folder is). A mirror's own
`SHA256SUMS` (as `sha256sum` writes it: `HASH  name`, `HASH *name`, `./name`) says which files the mirror holds (a
mirror may hold training parts only); it never replaces a pinned hash. A mirror whose sums or bytes differ from the
pinned ones is refused, unless `allow_modified_mirror: true`: then a file listed in its sums is taken with the
mirror's hash, and `SOURCES.md` marks it "modified". A folder mirror's file must resolve inside the folder (a symlink
out of it is refused).

A file is written as `NAME.part` and renamed to its final name only once its hash is right, so no partial or wrong
file ever sits under a final name. The mirror's sums are all checked before the first file is fetched. An
interrupted download resumes from its `.part` (HTTP Range); failed requests are retried with exponential backoff; a
file already present with the right hash is not fetched again. Last, `SOURCES.md` lists each file with its origin,
commit, hash, licence terms and citation.
"""

from __future__ import annotations

import http.client
import logging
import re
import shutil
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
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
    """What a fetch did: files downloaded or copied, already present, not in the mirror, and taken modified."""

    out_dir: Path
    fetched: list[str] = field(default_factory=list)
    present: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    modified: list[str] = field(default_factory=list)


def _is_url(source: str) -> bool:
    return source.startswith(("http://", "https://"))


_SUMS_LINE = re.compile(r"([0-9a-fA-F]{64}) [ *](.+)")


def _read_sums(text: str, where: str) -> dict[str, str]:
    """`sha256sum` output as {name relative to the mirror: lowercase sha256}.

    Raises:
        DataError: a line is not `HASH  name` or `HASH *name`, a name leaves the mirror (absolute or `..`), or a
            name is listed twice with different hashes (naming `where` and the line).
    """
    sums: dict[str, str] = {}
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        match = _SUMS_LINE.fullmatch(line)
        if match is None:
            raise DataError(where, number, "not a `HASH  name` or `HASH *name` line (as sha256sum writes them)")
        digest, name = match.group(1).lower(), match.group(2)
        parts = PurePosixPath(name).parts
        if name.startswith("/") or ".." in parts or not parts:
            raise DataError(where, number, f"{name!r} is not a path inside the mirror")
        name = str(PurePosixPath(*[part for part in parts if part != "."]))
        if sums.get(name, digest) != digest:
            raise DataError(where, number, f"{name} is listed twice with different hashes")
        sums[name] = digest
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


def _inside_mirror(root: Path, local: str) -> Path:
    """The regular file `local` names in the folder mirror `root`, resolved.

    Raises:
        DataError: it is not there, is not a regular file, or resolves outside `root` (a symlink out of the mirror).
    """
    path = root / local
    if not path.exists():
        raise DataError(str(path), None, "not in the mirror")
    resolved = path.resolve()
    if not resolved.is_relative_to(root.resolve()):
        raise DataError(str(path), None, f"resolves to {resolved}, outside the mirror folder; refused")
    if not resolved.is_file():
        raise DataError(str(path), None, "not a regular file")
    return resolved


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
        _copy(_inside_mirror(Path(source), file.local), part)
    got = file_sha256(part)
    if got != expected:
        part.unlink()
        raise ChecksumError(file.local, None, f"SHA-256 {got} does not match the pinned {expected} (from "
                                              f"{origin}); nothing was written under {dest}")
    part.replace(dest)
    return True


def _expected_hashes(wanted: list[UpstreamFile], sums: dict[str, str] | None, where: str,
                     allow_modified: bool) -> dict[str, str]:
    """{local name: the hash its bytes must have} for the files the mirror holds (all of them without sums).

    Raises:
        ChecksumError: the sums give a file a hash other than the pinned one, and `allow_modified` is off.
        DataError: the sums list none of the wanted files.
    """
    if sums is None:
        return {f.local: f.sha256 for f in wanted}
    held = [f for f in wanted if f.local in sums]
    if not held:
        raise DataError(where, None, "lists none of the files asked for (names as in the raw-data folder, e.g. "
                        f"{wanted[0].local}); nothing was fetched")
    for f in held:
        if sums[f.local] != f.sha256 and not allow_modified:
            raise ChecksumError(where, None, f"{f.local} is listed with SHA-256 {sums[f.local]}, not the pinned "
                                f"{f.sha256} ({f.repository} at {f.commit[:12]}): the mirror's file is not the "
                                "upstream one. Set allow_modified_mirror: true to take it (SOURCES.md then marks "
                                "it modified); nothing was fetched")
    return {f.local: sums[f.local] for f in held}


def fetch_sources(cfg: DataFetchConfig, files: Iterable[UpstreamFile] = MANIFEST) -> FetchReport:
    """Fetch the files of `cfg.splits` into `cfg.out_dir` (see the module docstring) and write `SOURCES.md`.

    Raises:
        ChecksumError: a file's hash differs from the pinned one (naming the file and both hashes), unless the
            mirror lists it and `cfg.allow_modified_mirror` is set.
        DataError: a file cannot be fetched or leaves the mirror, or the mirror's SHA256SUMS is malformed or lists
            none of the files asked for.
    """
    out = Path(cfg.out_dir)
    source = cfg.source
    if source is not None and not _is_url(source) and not Path(source).is_dir():
        raise ConfigError(f"source: {source} is neither a folder nor an http(s) URL")
    sums = _mirror_sums(source, cfg.timeout_s) if source is not None else None
    wanted = [f for f in files if f.split in cfg.splits]
    expected = _expected_hashes(wanted, sums, f"{source}/SHA256SUMS", cfg.allow_modified_mirror)
    report = FetchReport(out)
    for file in wanted:
        if file.local not in expected:
            report.missing.append(file.local)  # a mirror of training parts has no test files
            continue
        fetched = fetch_file(file, expected[file.local], out, source, cfg.retries, cfg.timeout_s)
        (report.fetched if fetched else report.present).append(file.local)
        if expected[file.local] != file.sha256:
            report.modified.append(file.local)
            log.warning("%s: taken from the mirror although it differs from upstream (allow_modified_mirror)",
                        file.local)
        log.info("%s: %s", file.local, "fetched" if fetched else "already present")
    out.mkdir(parents=True, exist_ok=True)
    write_text_atomic(out / "SOURCES.md", _sources_md([f for f in wanted if f.local in expected], report, source,
                                                       expected))
    return report


def _sources_md(files: list[UpstreamFile], report: FetchReport, source: str | None,
                expected: dict[str, str]) -> str:
    lines = ["# Sources of this raw-data folder", "",
             "Written by `mentalglm data fetch`. Each file is pinned by commit and checked by SHA-256; a file marked "
             "**modified** came from a mirror whose file differs from upstream (allow_modified_mirror: true), and "
             "its hash is the mirror's.", "", f"Fetched from: {source or 'upstream (raw.githubusercontent.com)'}", "",
             "| file | role | repository | commit | upstream path | sha256 | status |", "|---|---|---|---|---|---|---|"]
    for f in files:
        digest = expected[f.local]
        status = "as upstream" if digest == f.sha256 else f"**modified** (upstream: `{f.sha256}`)"
        lines.append(f"| `{f.local}` | {f.role} | {f.repository} | `{f.commit[:12]}` | `{f.path}` | `{digest}` "
                     f"| {status} |")
    if report.missing:
        lines += ["", "Not in the mirror (fetch them from upstream to evaluate on them): "
                  + ", ".join(f"`{m}`" for m in report.missing)]
    lines += ["", "## Terms and citations", ""]
    for repository in sorted({f.repository for f in files}):
        terms, cite = TERMS.get(repository, ("Terms: see the repository.", "see the repository."))
        lines.append(f"- **{repository}** (https://github.com/{repository}): {terms} Cite: {cite}")
    return "\n".join(lines) + "\n"
