"""`mentalglm data fetch`: a mirror served over real HTTP on 127.0.0.1 (verified hashes, a corrupted file, a
connection dropped midway, a second run that downloads nothing), folder mirrors whose SHA256SUMS the real
`sha256sum` wrote in each of its forms (pinned hashes always win; a modified mirror only with
allow_modified_mirror, marked in SOURCES.md; symlinks out of the mirror refused), the project's shared data when
present, and the pinned manifest against UPSTREAM.md."""

import hashlib
import json
import re
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from mentalglm.config import DataFetchConfig
from mentalglm.data.fetch import ChecksumError, fetch_sources
from mentalglm.data.upstream import MANIFEST, UpstreamFile
from mentalglm.errors import DataError
from paths import REPO

SHARED = REPO.parent / "shared" / "data"


def _upstream(local: str, data: bytes, split: str = "train") -> UpstreamFile:
    return UpstreamFile("example/repo", "0" * 40, f"up/{local}", len(data), hashlib.sha256(data).hexdigest(),
                        "test file", local, split)


class _Mirror(ThreadingHTTPServer):
    """Serves `files` ({local name: bytes}) with Range support; `drop` names files whose first full GET is cut off
    halfway; `log` records (path, Range header) of every GET."""

    def __init__(self, files: dict[str, bytes], drop: set[str] = frozenset()):
        self.files, self.drop, self.log = files, set(drop), []
        super().__init__(("127.0.0.1", 0), _Handler)


class _Handler(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def do_GET(self):
        server: _Mirror = self.server
        name = self.path.lstrip("/")
        server.log.append((name, self.headers.get("Range")))
        if name not in server.files:
            self.send_error(404)
            return
        data = server.files[name]
        start = int(re.match(r"bytes=(\d+)-", self.headers["Range"]).group(1)) if self.headers.get("Range") else 0
        self.send_response(206 if start else 200)
        self.send_header("Content-Length", str(len(data) - start))
        self.end_headers()
        if name in server.drop and not start:
            server.drop.discard(name)
            self.wfile.write(data[: len(data) // 2])
            self.wfile.flush()
            self.connection.shutdown(2)  # the connection drops midway
            return
        self.wfile.write(data[start:])


@pytest.fixture
def mirror():
    servers = []

    def start(files, drop=()):
        server = _Mirror(files, set(drop))
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return server, f"http://127.0.0.1:{server.server_address[1]}"

    yield start
    for server in servers:
        server.shutdown()


FILES = {"socialcd3k/train.tsv": "内容\t读心术\n他一定讨厌我\t1\n".encode() * 4000,
         "sos_4k/test.tsv": b"comment\tmyLabel\texplain\r\n" * 3000}


def test_files_land_verified_a_dropped_connection_resumes_and_a_second_run_fetches_nothing(mirror, tmp_path):
    server, url = mirror(FILES, drop={"socialcd3k/train.tsv"})
    manifest = [_upstream(name, data, "test" if "test" in name else "train") for name, data in FILES.items()]
    cfg = DataFetchConfig(out_dir=tmp_path / "raw", source=url, retries=2)
    report = fetch_sources(cfg, manifest)
    assert sorted(report.fetched) == sorted(FILES) and report.present == [] and report.missing == []
    for name, data in FILES.items():
        assert (tmp_path / "raw" / name).read_bytes() == data
    assert not list((tmp_path / "raw").rglob("*.part"))
    resumed = [r for n, r in server.log if n == "socialcd3k/train.tsv"]
    assert resumed[0] is None and resumed[1] == f"bytes={len(FILES['socialcd3k/train.tsv']) // 2}-"
    sources = (tmp_path / "raw" / "SOURCES.md").read_text()
    assert "example/repo" in sources and manifest[0].sha256 in sources
    requests = len(server.log)
    again = fetch_sources(cfg, manifest)
    assert again.fetched == [] and sorted(again.present) == sorted(FILES)
    assert [n for n, _ in server.log[requests:]] == ["SHA256SUMS"]  # only the check for the mirror's sums


def test_only_the_asked_splits_are_fetched(mirror, tmp_path):
    _, url = mirror(FILES)
    manifest = [_upstream(name, data, "test" if "test" in name else "train") for name, data in FILES.items()]
    report = fetch_sources(DataFetchConfig(out_dir=tmp_path, source=url, splits=["train"]), manifest)
    assert report.fetched == ["socialcd3k/train.tsv"] and not (tmp_path / "sos_4k").exists()


def test_a_corrupted_file_fails_naming_it_and_both_hashes_and_leaves_nothing(mirror, tmp_path):
    good = FILES["sos_4k/test.tsv"]
    bad = good[:-3] + b"XYZ"
    _, url = mirror({"sos_4k/test.tsv": bad})
    pinned = _upstream("sos_4k/test.tsv", good, "test")
    with pytest.raises(ChecksumError) as failure:
        fetch_sources(DataFetchConfig(out_dir=tmp_path, source=url), [pinned])
    message = str(failure.value)
    assert "sos_4k/test.tsv" in message and pinned.sha256 in message
    assert hashlib.sha256(bad).hexdigest() in message
    assert not (tmp_path / "sos_4k" / "test.tsv").exists() and not list(tmp_path.rglob("*.part"))


def test_a_missing_file_is_an_error_naming_its_url(mirror, tmp_path):
    _, url = mirror({})
    with pytest.raises(Exception, match=r"sos_4k/test\.tsv: HTTP 404"):
        fetch_sources(DataFetchConfig(out_dir=tmp_path, source=url, retries=0),
                      [_upstream("sos_4k/test.tsv", b"x", "test")])


def _folder_mirror(root: Path, files: dict[str, bytes], sums_args: tuple[str, ...] | None = ()) -> Path:
    """A folder mirror holding `files`, with a SHA256SUMS written by the real `sha256sum` run with `sums_args`
    (`("-b",)` for `HASH *name`) over `./name` paths when `dot` is in them; None: no SHA256SUMS."""
    for name, data in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(data)
    if sums_args is not None:
        dot = "dot" in sums_args
        names = [("./" if dot else "") + name for name in sorted(files)]
        run = subprocess.run(["sha256sum", *(a for a in sums_args if a != "dot"), *names], cwd=root,
                             capture_output=True, text=True, check=True)
        (root / "SHA256SUMS").write_text(run.stdout)
    return root


TRAIN = "socialcd3k/train.tsv"
PINNED = [_upstream(TRAIN, FILES[TRAIN]), _upstream("sos_4k/test.tsv", b"not in this mirror", "test")]


@pytest.mark.parametrize("sums_args", [(), ("-b",), ("dot",), ("-b", "dot")],
                         ids=["text", "binary-star", "dot-slash", "binary-dot-slash"])
def test_a_folder_mirror_of_the_pinned_bytes_is_taken_whatever_form_its_sums_have(tmp_path, sums_args):
    mirror_dir = _folder_mirror(tmp_path / "mirror", {TRAIN: FILES[TRAIN]}, sums_args)
    report = fetch_sources(DataFetchConfig(out_dir=tmp_path / "raw", source=str(mirror_dir)), PINNED)
    assert report.fetched == [TRAIN] and report.missing == ["sos_4k/test.tsv"] and report.modified == []
    assert (tmp_path / "raw" / TRAIN).read_bytes() == FILES[TRAIN]
    assert f"| `{PINNED[0].sha256}` | as upstream |" in (tmp_path / "raw" / "SOURCES.md").read_text()


def test_a_mirror_whose_sums_differ_from_the_pinned_hashes_is_refused_before_anything_is_fetched(tmp_path):
    changed = FILES[TRAIN] + "他总是这样\t1\n".encode()
    mirror_dir = _folder_mirror(tmp_path / "mirror", {TRAIN: changed})
    out = tmp_path / "raw"
    with pytest.raises(ChecksumError) as refused:
        fetch_sources(DataFetchConfig(out_dir=out, source=str(mirror_dir)), PINNED)
    assert str(refused.value) == (
        f"{mirror_dir}/SHA256SUMS: {TRAIN} is listed with SHA-256 {hashlib.sha256(changed).hexdigest()}, not the "
        f"pinned {PINNED[0].sha256} (example/repo at 000000000000): the mirror's file is not the upstream one. "
        "Set allow_modified_mirror: true to take it (SOURCES.md then marks it modified); nothing was fetched")
    assert not out.exists()
    report = fetch_sources(DataFetchConfig(out_dir=out, source=str(mirror_dir), allow_modified_mirror=True), PINNED)
    assert report.fetched == [TRAIN] and report.modified == [TRAIN]
    assert (out / TRAIN).read_bytes() == changed
    sources = (out / "SOURCES.md").read_text()
    assert (f"| `{hashlib.sha256(changed).hexdigest()}` | **modified** (upstream: `{PINNED[0].sha256}`) |"
            in sources)


def test_changed_bytes_with_no_sums_are_refused_even_when_modified_mirrors_are_allowed(tmp_path):
    mirror_dir = _folder_mirror(tmp_path / "mirror", {TRAIN: FILES[TRAIN] + b"x"}, None)
    with pytest.raises(ChecksumError, match=f"^{TRAIN}: SHA-256 [0-9a-f]{{64}} does not match the pinned "
                                            f"{PINNED[0].sha256}"):
        fetch_sources(DataFetchConfig(out_dir=tmp_path / "raw", source=str(mirror_dir), allow_modified_mirror=True),
                      PINNED[:1])
    assert not (tmp_path / "raw" / TRAIN).exists() and not list(tmp_path.rglob("*.part"))


def test_a_mirror_file_that_is_a_symlink_out_of_the_mirror_is_refused(tmp_path):
    outside = tmp_path / "secret.txt"
    outside.write_bytes(FILES[TRAIN])  # even bytes that hash right are not read from outside the mirror
    mirror_dir = tmp_path / "mirror"
    (mirror_dir / "socialcd3k").mkdir(parents=True)
    (mirror_dir / TRAIN).symlink_to(outside)
    with pytest.raises(DataError) as refused:
        fetch_sources(DataFetchConfig(out_dir=tmp_path / "raw", source=str(mirror_dir)), PINNED[:1])
    assert str(refused.value) == f"{mirror_dir / TRAIN}: resolves to {outside}, outside the mirror folder; refused"
    assert not (tmp_path / "raw" / TRAIN).exists()


@pytest.mark.parametrize("sums, line, reason", [
    (f"{'a' * 64}  ../etc/passwd\n", 1, "'../etc/passwd' is not a path inside the mirror"),
    (f"\n{'a' * 64}  /etc/passwd\n", 2, "'/etc/passwd' is not a path inside the mirror"),
    (f"{'a' * 63}  {TRAIN}\n", 1, "not a `HASH  name` or `HASH *name` line (as sha256sum writes them)"),
    (f"{'a' * 64}  {TRAIN}\n{'b' * 64}  ./{TRAIN}\n", 2, f"{TRAIN} is listed twice with different hashes"),
])
def test_a_malformed_sums_file_is_refused_naming_its_line(tmp_path, sums, line, reason):
    mirror_dir = _folder_mirror(tmp_path / "mirror", {TRAIN: FILES[TRAIN]}, None)
    (mirror_dir / "SHA256SUMS").write_text(sums)
    with pytest.raises(DataError) as refused:
        fetch_sources(DataFetchConfig(out_dir=tmp_path / "raw", source=str(mirror_dir)), PINNED)
    assert str(refused.value) == f"{mirror_dir}/SHA256SUMS:{line}: {reason}"


def test_sums_that_list_none_of_the_files_asked_for_are_an_error_not_an_empty_fetch(tmp_path):
    mirror_dir = _folder_mirror(tmp_path / "mirror", {"elsewhere/train.tsv": FILES[TRAIN]})
    with pytest.raises(DataError) as refused:
        fetch_sources(DataFetchConfig(out_dir=tmp_path / "raw", source=str(mirror_dir)), PINNED)
    assert str(refused.value) == (f"{mirror_dir}/SHA256SUMS: lists none of the files asked for (names as in the "
                                  f"raw-data folder, e.g. {TRAIN}); nothing was fetched")
    assert not (tmp_path / "raw").exists()


def _upstream_table() -> set[tuple]:
    rows = set()
    for line in (SHARED / "UPSTREAM.md").read_text(encoding="utf-8").splitlines():
        cells = [c.strip().strip("`") for c in line.strip().strip("|").split("|")]
        if len(cells) == 6 and re.fullmatch(r"[0-9a-f]{64}", cells[4]):
            rows.add((cells[0], cells[1], cells[2], int(cells[3].replace(",", "")), cells[4]))
    return rows


@pytest.mark.skipif(not (SHARED / "UPSTREAM.md").exists(), reason="the shared data folder is not here")
def test_the_manifest_pins_what_upstream_md_lists():
    assert {(f.repository, f.commit, f.path, f.size, f.sha256) for f in MANIFEST} == _upstream_table()
    assert len({f.local for f in MANIFEST}) == len(MANIFEST)


@pytest.mark.skipif(not (SHARED / "SHA256SUMS").exists(), reason="the shared data folder is not here")
def test_fetch_from_the_shared_mirror_then_build_the_training_parts_through_the_cli(tmp_path):
    out = tmp_path / "data" / "raw"  # the build configs read data/raw under the working folder
    fetch = [str(Path(sys.executable).parent / "mentalglm"), "data", "fetch", str(REPO / "configs/data/fetch.yaml"),
             "--from", str(SHARED), f"out_dir={out}", "splits=[train,val]"]
    sums = dict(reversed(line.split("  ", 1)) for line in (SHARED / "SHA256SUMS").read_text().splitlines())
    fetched = [f for f in MANIFEST if f.split in ("train", "val") and f.local in sums]
    modified = sorted(f.local for f in fetched if sums[f.local] != f.sha256)
    if modified:  # the shared mirror's cleaned files differ from upstream: refused unless allowed, then marked
        refused = subprocess.run(fetch, capture_output=True, text=True, timeout=300)
        assert refused.returncode == 2 and "is listed with SHA-256" in refused.stderr and not out.exists()
    run = subprocess.run([*fetch, "allow_modified_mirror=true"], capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-2000:]
    assert fetched and "not in the mirror" in run.stdout
    sources = (out / "SOURCES.md").read_text()
    for f in fetched:
        assert hashlib.sha256((out / f.local).read_bytes()).hexdigest() == sums[f.local]
        assert (f"**modified** (upstream: `{f.sha256}`)" in sources) == (f.local in modified), f.local
    assert not (out / "socialcd3k" / "test.tsv").exists()
    for config, splits in (("cimhi", "[train,val]"), ("imhi", "[train]")):
        build = subprocess.run([str(Path(sys.executable).parent / "mentalglm"), "data", "build",
                                str(REPO / f"configs/data/{config}.yaml"), f"splits={splits}"], cwd=tmp_path,
                               capture_output=True, text=True, timeout=600)
        assert build.returncode == 0, build.stderr[-2000:]
    stats = json.loads((tmp_path / "data" / "cimhi" / "stats.json").read_text())
    assert {t: sum(stats["counts"][s][t]["total"] for s in ("train", "val")) for t in stats["counts"]["train"]} == \
        {"cognitive_distortion": 2717, "suicide_risk": 814, "suicide_level": 3177}
    assert (tmp_path / "data" / "imhi" / "train.jsonl").stat().st_size > 0


def test_the_build_configs_read_the_files_fetch_writes():
    from mentalglm.config import DataBuildConfig, load_config

    locals_ = {f.local: f.split for f in MANIFEST}
    for name in ("cimhi", "imhi"):
        cfg = load_config(DataBuildConfig, REPO / f"configs/data/{name}.yaml")
        for source in cfg.sources:
            for split, path in source.splits.items():
                assert locals_.get(str(path.relative_to("data/raw"))) == split, (name, source.name, split, path)
