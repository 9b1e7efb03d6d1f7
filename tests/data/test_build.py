"""The data build: records, ids, encodings, dedup, test-leak removal, val carve, skip mode, stats."""

import json
import shutil
from collections import Counter

import pytest

from paths import REPO, sample_build_config
from mentalglm.config import DataBuildConfig, load_config
from mentalglm.data.build import build_dataset, carve_val
from mentalglm.data.records import Record, load_split
from mentalglm.tasks import render_instruction

HL_HEADER = "id\tlabel\tcomment\n"


def _source(name, fmt, task, **splits):
    return {"name": name, "format": fmt, "task": task, "splits": splits}


def _read(path):
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_sample_build_writes_unified_records(sample_data_dir):
    stats = json.loads((sample_data_dir / "stats.json").read_text(encoding="utf-8"))
    assert stats["before_val_carve"] == {"cognitive_distortion": {"train": 22, "test": 4},
                                         "suicide_risk": {"train": 14, "test": 3},
                                         "suicide_level": {"train": 14, "val": 4, "test": 3}}
    assert stats["val_carved"] == {"cognitive_distortion": 2, "suicide_risk": 1}
    rows = _read(sample_data_dir / "train.jsonl")
    assert list(rows[0]) == ["id", "task", "source", "split", "post", "labels", "explanation", "instruction",
                             "response"]
    first = rows[0]
    assert first["instruction"] == render_instruction(first["task"], first["post"])
    level = next(r for r in rows if r["task"] == "suicide_level")
    assert level["response"].startswith(f"发帖人的自杀风险为{level['labels'][0]}级。理由：")
    cd = next(r for r in rows if len(r["labels"]) == 2 and r["task"] == "cognitive_distortion")
    assert cd["response"] == f"这篇帖子体现了{cd['labels'][0]}, {cd['labels'][1]}的认知歪曲。"
    assert cd["explanation"] is None
    # PII in the sample was replaced, and counted.
    assert stats["pii_replacements"] == {"[PHONE]": 1, "[URL]": 1, "[USER]": 1}
    text = (sample_data_dir / "train.jsonl").read_text(encoding="utf-8")
    assert "13812345678" not in text and "example.com" not in text and "[USER]" in text + (
        sample_data_dir / "val.jsonl").read_text(encoding="utf-8")


def test_ids_are_stable_across_rebuilds(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    build_dataset(sample_build_config(a))
    build_dataset(sample_build_config(b))
    for split in ("train", "val", "test"):
        assert (a / f"{split}.jsonl").read_bytes() == (b / f"{split}.jsonl").read_bytes()
    assert not [p for p in a.iterdir() if p.name.startswith(".")], "temp files left behind"


def test_bom_crlf_and_gb18030_inputs_give_the_same_records(tmp_path):
    body = HL_HEADER + "1\t0\t今天有点累\n2\t1\t我已经准备好了药\n"
    variants = {"utf8.tsv": body.encode("utf-8"), "bom.tsv": b"\xef\xbb\xbf" + body.encode("utf-8"),
                "crlf.tsv": body.replace("\n", "\r\n").encode("utf-8"), "gbk.tsv": body.encode("gb18030")}
    outputs = []
    for name, data in variants.items():
        raw = tmp_path / name
        raw.write_bytes(data)
        out = tmp_path / f"out-{name}"
        build_dataset(DataBuildConfig(out_dir=out, val_fraction=0,
                                      sources=[_source("s", "sos_hl_1k", "suicide_risk", train=raw)]))
        outputs.append([(r["post"], r["labels"]) for r in _read(out / "train.jsonl")])
    assert all(o == outputs[0] for o in outputs)
    assert outputs[0] == [("今天有点累", ["低自杀风险"]), ("我已经准备好了药", ["高自杀风险"])]


def test_duplicates_and_test_posts_are_removed_from_every_task(tmp_path):
    hl = tmp_path / "hl.tsv"
    hl.write_text(HL_HEADER + "1\t0\t今天  有点累\n2\t0\t今天 有点累\n3\t1\t泄露到测试集的帖子\n4\t0\t干净的帖子\n",
                  encoding="utf-8")
    l4 = tmp_path / "l4.tsv"
    l4.write_text("comment\tmyLabel\texplain\n泄露到测试集的帖子\t8\t解释\n另一个帖子\t2\t解释\n", encoding="utf-8")
    test = tmp_path / "test.tsv"
    test.write_text("comment\tmyLabel\texplain\n泄露到测试集的帖子 \t8\t解释\n", encoding="utf-8")
    out = tmp_path / "out"
    stats = build_dataset(DataBuildConfig(out_dir=out, val_fraction=0, sources=[
        _source("hl", "sos_hl_1k", "suicide_risk", train=hl),
        _source("l4", "sos_4k", "suicide_level", train=l4, test=test)]))
    train_posts = [r["post"] for r in _read(out / "train.jsonl")]
    assert train_posts == ["今天  有点累", "干净的帖子", "另一个帖子"]
    assert stats["duplicates_removed"] == {"suicide_risk": {"train": 1}}
    assert stats["test_overlap_removed"] == {"suicide_risk": {"train": 1}, "suicide_level": {"train": 1}}
    assert [r["post"] for r in _read(out / "test.jsonl")] == ["泄露到测试集的帖子"]


def test_test_posts_leave_train_under_the_normalised_key_and_as_near_duplicates(tmp_path):
    test_post = "我真的撑不下去了，每天晚上都哭到凌晨三点，没有人能理解我的痛苦"
    test = tmp_path / "test.tsv"
    test.write_text(f"comment\tmyLabel\texplain\n{test_post}\t5\t解释\n", encoding="utf-8")
    rows = [
        "我真的撑不下去了,每天晚上都哭到凌晨三点,没有人能理解我的痛苦",  # half-width punctuation: exact
        "我真的撑不下去了，每天晚上都哭到凌晨三点，没有人能理解我的痛苦！！！",  # extra punctuation: exact
        "我真的撑不下去了 每天晚上都哭到凌晨三点 没有人能理解我的痛苦。",  # spaces: exact
        "转发：我真的撑不下去了，每天晚上都哭到凌晨三点，没有人能理解我的痛苦",  # repost: near
        "我真的撑不下去了，每天晚上都哭到凌晨四点，没有人能理解我的痛苦",  # one character edited: near
        "我真的撑不下去了，但是今天和朋友出去玩了，心情好了一点",  # shares a prefix only: kept
        "今天天气很好",  # unrelated: kept
    ]
    train = tmp_path / "train.tsv"
    train.write_text("comment\tmyLabel\texplain\n" + "".join(f"{r}\t5\t解释\n" for r in rows), encoding="utf-8")
    out = tmp_path / "out"
    stats = build_dataset(DataBuildConfig(out_dir=out, val_fraction=0, sources=[
        _source("l4", "sos_4k", "suicide_level", train=train, test=test)]))
    assert [r["post"] for r in _read(out / "train.jsonl")] == rows[5:]
    assert stats["test_overlap_removed"] == {"suicide_level": {"train": 3}}
    assert stats["test_near_duplicates_removed"] == {"suicide_level": {"train": 2}}
    assert stats["near_duplicate_rule"] == {"shingle_chars": 3, "jaccard_at_least": 0.8}


def test_val_carve_is_stratified_and_deterministic():
    labels = ["高自杀风险"] * 60 + ["低自杀风险"] * 40
    records = [Record(f"s-train-{i:06d}", "suicide_risk", "s", "train", f"p{i}", [lab], None, "", "")
               for i, lab in enumerate(labels)]
    train, val = carve_val(list(records), 0.1, seed=0, source="s")
    assert len(val) == 10 and len(train) == 90
    assert Counter(r.labels[0] for r in val) == {"高自杀风险": 6, "低自杀风险": 4}
    assert all(r.split == "val" for r in val)
    again = [Record(**{**r.__dict__, "split": "train"}) for r in records]
    _, val2 = carve_val(again, 0.1, seed=0, source="s")
    assert [r.id for r in val2] == [r.id for r in val]
    _, val3 = carve_val([Record(**{**r.__dict__, "split": "train"}) for r in records], 0.1, seed=1, source="s")
    assert [r.id for r in val3] != [r.id for r in val]


def test_skip_mode_records_every_skipped_row(tmp_path):
    raw = tmp_path / "l4.tsv"
    raw.write_text("comment\tmyLabel\texplain\n好累\t1\t解释\n坏\t12\t解释\n\t3\t解释\n也还行\t0\t\n", encoding="utf-8")
    out = tmp_path / "out"
    stats = build_dataset(DataBuildConfig(out_dir=out, val_fraction=0, on_bad_row="skip",
                                          sources=[_source("l4", "sos_4k", "suicide_level", train=raw)]))
    assert stats["skipped_rows"] == [
        {"file": str(raw), "line": 3, "column": 2, "reason": "level 12 outside 0-10 (column myLabel)"},
        {"file": str(raw), "line": 4, "column": 1, "reason": "empty post (column comment)"}]
    rows = _read(out / "train.jsonl")
    assert [r["labels"] for r in rows] == [["1"], ["0"]]
    assert rows[1]["explanation"] is None and "理由" not in rows[1]["response"]
    saved = json.loads((out / "stats.json").read_text(encoding="utf-8"))
    assert saved["skipped_rows"] == stats["skipped_rows"]


def test_jsonl_source_round_trips_built_records(sample_data_dir, tmp_path):
    out = tmp_path / "out"
    build_dataset(DataBuildConfig(out_dir=out, val_fraction=0, sources=[
        {"name": "again", "format": "jsonl", "splits": {"train": sample_data_dir / "test.jsonl"}}]))
    original = load_split(sample_data_dir, "test")
    rebuilt = load_split(out, "train")
    assert [(r.post, r.labels, r.response) for r in rebuilt] == [(r.post, r.labels, r.response) for r in original]


def test_shared_data_counts(shared_data, tmp_path):
    cfg = load_config(DataBuildConfig, REPO / "configs/data/cimhi.yaml",
                      [f"out_dir={tmp_path / 'out'}", "splits=[train,val]"])  # the mirror has no test files
    for source in cfg.sources:
        source.splits = {k: shared_data / v.relative_to("data/raw") for k, v in source.splits.items()}
    stats = build_dataset(cfg)
    # posts equal after NFKC, case, whitespace and punctuation folding count once
    assert stats["duplicates_removed"] == {"cognitive_distortion": {"train": 5}, "suicide_risk": {"train": 1},
                                           "suicide_level": {"train": 2}}
    assert stats["before_val_carve"] == {"cognitive_distortion": {"train": 2717}, "suicide_risk": {"train": 814},
                                         "suicide_level": {"train": 2541, "val": 636}}
    counts = stats["counts"]
    for task, total in {"cognitive_distortion": 2717, "suicide_risk": 814, "suicide_level": 3177}.items():
        assert counts["train"][task]["total"] + counts["val"][task]["total"] == total
    assert counts["train"]["suicide_level"]["labels"]["0"] == 161
    cd = Counter()
    for split in ("train", "val"):
        cd.update(counts[split]["cognitive_distortion"]["labels"])
    assert [cd[lab] for lab in ("非此即彼", "以偏概全", "心理过滤", "乱贴标签", "罪责归他")] == [63, 111, 301, 1570, 21]


def test_shared_data_with_crlf_test_split_removes_test_posts(shared_data, tmp_path):
    # A test split in the original release's shape: CRLF line ends, some posts also present in train files.
    cd_rows = (shared_data / "socialcd3k/train.tsv").read_text(encoding="utf-8").splitlines()
    l4_rows = (shared_data / "sos_4k/train.tsv").read_text(encoding="utf-8").splitlines()
    cd_test = tmp_path / "cd_test.tsv"
    cd_test.write_bytes(("\r\n".join(cd_rows[:1] + cd_rows[1:51]) + "\r\n").encode("utf-8"))
    l4_test = tmp_path / "l4_test.tsv"
    l4_test.write_bytes(("\r\n".join(l4_rows[:1] + l4_rows[1:31]) + "\r\n").encode("utf-8"))
    out = tmp_path / "out"
    stats = build_dataset(DataBuildConfig(out_dir=out, sources=[
        _source("socialcd3k", "socialcd3k", "cognitive_distortion", train=shared_data / "socialcd3k/train.tsv",
                test=cd_test),
        _source("sos_hl_1k", "sos_hl_1k", "suicide_risk", train=shared_data / "sos_hl_1k/train.tsv"),
        _source("sos_4k", "sos_4k", "suicide_level", train=shared_data / "sos_4k/train.tsv",
                val=shared_data / "sos_4k/val.tsv", test=l4_test)]))
    test_posts = {" ".join(r["post"].split()) for r in _read(out / "test.jsonl")}
    assert len(test_posts) == 80
    for split in ("train", "val"):
        for r in _read(out / f"{split}.jsonl"):
            assert " ".join(r["post"].split()) not in test_posts, r["id"]
    removed = stats["test_overlap_removed"]
    assert removed["cognitive_distortion"]["train"] == 50
    assert removed["suicide_level"]["train"] == 30
    # SOS-4K and SOS-HL-1K share posts: some of the level test posts leave the risk task's train split too.
    assert removed.get("suicide_risk", {}).get("train", 0) > 0


def test_imhi_sources_become_generic_instruction_records(shared_data, tmp_path):
    out = tmp_path / "imhi"
    sources = [_source(f"imhi_{n}", "imhi", "imhi", train=shared_data / f"imhi/{n}/train.csv")
               for n in ("DR", "dreaddit", "SAD")]
    stats = build_dataset(DataBuildConfig(out_dir=out, val_fraction=0.05, sources=sources))
    assert sum(f["rows_read"] for f in stats["files"].values()) == 1003 + 2837 + 5547
    first = _read(out / "train.jsonl")[0]
    assert first["task"] == "imhi" and first["labels"] == [] and first["explanation"] is None
    assert first["instruction"].startswith("Consider this post:") and "Question:" in first["instruction"]
    assert "Reasoning:" in first["response"]
    assert first["post"] in first["instruction"]


def _tree(folder):
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_a_build_that_fails_late_leaves_the_earlier_build_whole_and_no_temp_folder(tmp_path, monkeypatch):
    from mentalglm.data import build
    from mentalglm.errors import DataError

    out = tmp_path / "out"
    build_dataset(sample_build_config(out))
    before = _tree(out)

    def export_fails_halfway(folder, outputs, report):  # a disk that fills up during the Parquet export
        (folder / "hf" / "suicide_risk").mkdir(parents=True)
        (folder / "hf" / "suicide_risk" / "train.parquet").write_bytes(b"PAR1 half")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(build, "write_hf_dataset", export_fails_halfway)
    with pytest.raises(DataError) as failed:
        build_dataset(sample_build_config(out, seed=7))
    assert str(failed.value) == (f"{out}: the build could not be written ([Errno 28] No space left on device); "
                                 "the folder is as it was")
    assert _tree(out) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]  # no temp or old folder beside it


def test_a_rebuild_replaces_the_folder_whole(tmp_path):
    out = tmp_path / "out"
    build_dataset(sample_build_config(out))
    first = _tree(out)
    shutil.rmtree(out / "hf")
    (out / "hf").write_text("an earlier export broken into a file")  # the old NotADirectoryError case
    (out / "val.jsonl").unlink()
    build_dataset(sample_build_config(out))
    assert _tree(out) == first
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


@pytest.mark.parametrize("layout, reason", [
    ("parent-is-file", "out_dir: cannot create {out}: {parent} is not a folder"),
    ("foreign-files", "out_dir: {out} holds files a data build does not write (notes.txt, runs); a build replaces "
                      "the whole folder, so give an empty folder or an earlier build's"),
])
def test_an_out_dir_a_build_cannot_replace_is_refused_before_any_reading(tmp_path, layout, reason):
    from mentalglm.config import ConfigError

    parent = tmp_path / "data"
    out = parent / "cimhi"
    if layout == "parent-is-file":
        parent.write_text("not a folder")
    else:
        out.mkdir(parents=True)
        (out / "notes.txt").write_text("mine")
        (out / "runs").mkdir()
    cfg = sample_build_config(out)
    cfg.sources[0].splits = {"train": tmp_path / "missing.tsv"}  # never read: the folder is checked first
    with pytest.raises(ConfigError) as refused:
        build_dataset(cfg)
    assert str(refused.value) == reason.format(out=out, parent=parent)
    if layout == "foreign-files":
        assert sorted(p.name for p in out.iterdir()) == ["notes.txt", "runs"]
