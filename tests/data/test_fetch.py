"""`mentalglm data fetch`: a mirror served over real HTTP on 127.0.0.1 (verified hashes, a corrupted file, a
connection dropped midway, a second run that downloads nothing), a folder mirror with its own SHA256SUMS (the
project's shared data when present), and the pinned manifest against UPSTREAM.md."""

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


def test_a_folder_mirror_is_checked_against_its_own_sha256sums(tmp_path):
    mirror_dir = tmp_path / "mirror"
    (mirror_dir / "socialcd3k").mkdir(parents=True)
    data = FILES["socialcd3k/train.tsv"]
    (mirror_dir / "socialcd3k" / "train.tsv").write_bytes(data)
    (mirror_dir / "SHA256SUMS").write_text(f"{hashlib.sha256(data).hexdigest()}  socialcd3k/train.tsv\n")
    manifest = [_upstream("socialcd3k/train.tsv", b"the upstream bytes differ"),
                _upstream("sos_4k/test.tsv", b"not in this mirror", "test")]
    report = fetch_sources(DataFetchConfig(out_dir=tmp_path / "raw", source=str(mirror_dir)), manifest)
    assert report.fetched == ["socialcd3k/train.tsv"] and report.missing == ["sos_4k/test.tsv"]
    (mirror_dir / "socialcd3k" / "train.tsv").write_bytes(data + b"tampered")
    (tmp_path / "raw" / "socialcd3k" / "train.tsv").unlink()
    with pytest.raises(ChecksumError, match="socialcd3k/train.tsv"):
        fetch_sources(DataFetchConfig(out_dir=tmp_path / "raw", source=str(mirror_dir)), manifest)


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
    run = subprocess.run([str(Path(sys.executable).parent / "mentalglm"), "data", "fetch",
                          str(REPO / "configs/data/fetch.yaml"), "--from", str(SHARED), f"out_dir={out}",
                          "splits=[train,val]"], capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-2000:]
    sums = dict(reversed(line.split("  ", 1)) for line in (SHARED / "SHA256SUMS").read_text().splitlines())
    fetched = [f for f in MANIFEST if f.split in ("train", "val") and f.local in sums]
    assert fetched and "not in the mirror" in run.stdout
    for f in fetched:
        assert hashlib.sha256((out / f.local).read_bytes()).hexdigest() == sums[f.local]
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
