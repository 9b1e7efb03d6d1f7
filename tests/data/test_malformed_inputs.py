"""Strict mode: each malformed input is an error naming file, line and column (never a value of the row), and
nothing is written."""

import re

import pytest

from mentalglm.config import DataBuildConfig
from mentalglm.data.build import build_dataset
from mentalglm.errors import DataError

CD_LABELS = "非此即彼	以偏概全	心理过滤	否定正面思考	读心术	先知错误	放大	情绪化推理	应该式	乱贴标签	罪责归己	罪责归他"
CD_HEADER = CD_LABELS + "\t内容\n"
CD_OK = "0\t0\t0\t0\t1\t0\t0\t0\t0\t0\t0\t0\t同事没理我，他一定讨厌我。\n"
HL_HEADER = "id\tlabel\tcomment\n"
L4_HEADER = "comment\tmyLabel\texplain\n"
L4_OK = "我好累。\t1\t有一定痛苦。\n"
JSONL_OK = '{"task": "suicide_risk", "post": "今天好累", "labels": ["低自杀风险"]}\n'

# (id, format, task, file text, line of the error, words the reason must hold)
CASES = [
    ("cd-too-few-columns", "socialcd3k", "cognitive_distortion", CD_HEADER + CD_OK + "0\t1\t只有两列\n", 3, "columns"),
    ("cd-too-many-columns", "socialcd3k", "cognitive_distortion",
     CD_HEADER + CD_OK.replace("\n", "\t多出来的一列\n"), 2, "columns"),
    ("cd-label-not-binary", "socialcd3k", "cognitive_distortion",
     CD_HEADER + CD_OK + CD_OK.replace("1\t", "2\t", 1), 3, "0 or 1"),
    ("cd-empty-post", "socialcd3k", "cognitive_distortion", CD_HEADER + CD_OK[: CD_OK.rindex("\t") + 1] + "\n", 2,
     "empty post"),
    ("cd-whitespace-post", "socialcd3k", "cognitive_distortion",
     CD_HEADER + CD_OK + CD_OK[: CD_OK.rindex("\t") + 1] + "   \n", 3, "empty post"),
    ("cd-no-label-set", "socialcd3k", "cognitive_distortion", CD_HEADER + CD_OK.replace("1\t", "0\t"), 2,
     "no cognitive-distortion label"),
    ("cd-header-missing-column", "socialcd3k", "cognitive_distortion",
     CD_HEADER.replace("罪责归他\t", "") + CD_OK, 1, "header lacks"),
    ("cd-blank-line-inside", "socialcd3k", "cognitive_distortion", CD_HEADER + CD_OK + "\n" + CD_OK, 3, "columns"),
    ("hl-unknown-label", "sos_hl_1k", "suicide_risk", HL_HEADER + "1\t0\t还好\n2\t高\t不想活了\n", 3, "0 or 1"),
    ("hl-missing-post-column", "sos_hl_1k", "suicide_risk", HL_HEADER + "1\t0\n", 2, "columns"),
    ("hl-empty-post", "sos_hl_1k", "suicide_risk", HL_HEADER + "1\t0\t还好\n2\t1\t\n", 3, "empty post"),
    ("hl-empty-file", "sos_hl_1k", "suicide_risk", "", 1, "header"),
    ("l4-level-above-10", "sos_4k", "suicide_level", L4_HEADER + L4_OK + "我想死\t11\t解释\n", 3, "outside 0-10"),
    ("l4-level-negative", "sos_4k", "suicide_level", L4_HEADER + L4_OK + "我想死\t-1\t解释\n", 3, "outside 0-10"),
    ("l4-level-not-integer", "sos_4k", "suicide_level", L4_HEADER + "我想死\t七\t解释\n", 2, "integer"),
    ("l4-level-fraction", "sos_4k", "suicide_level", L4_HEADER + L4_OK * 3 + "我想死\t3.5\t解释\n", 5, "integer"),
    ("l4-empty-post", "sos_4k", "suicide_level", L4_HEADER + "\t3\t解释\n", 2, "empty post"),
    ("l4-crlf-bad-row", "sos_4k", "suicide_level", (L4_HEADER + L4_OK + "坏行\n").replace("\n", "\r\n"), 3,
     "columns"),
    ("jsonl-not-json", "jsonl", "suicide_risk", JSONL_OK + "{not json\n", 2, "not valid JSON"),
    ("jsonl-missing-post", "jsonl", "suicide_risk", JSONL_OK + '{"task": "suicide_risk", "labels": ["高自杀风险"]}\n',
     2, "post"),
    ("jsonl-unknown-label", "jsonl", "suicide_risk",
     JSONL_OK + '{"task": "suicide_risk", "post": "x", "labels": ["中自杀风险"]}\n', 2, "unknown"),
    ("jsonl-wrong-task", "jsonl", "suicide_risk",
     '{"task": "suicide_level", "post": "x", "labels": ["3"]}\n', 1, "does not match"),
    ("jsonl-two-labels-single-task", "jsonl", "suicide_risk",
     '{"task": "suicide_risk", "post": "x", "labels": ["高自杀风险", "低自杀风险"]}\n', 1, "several"),
    ("imhi-missing-answer-column", "imhi", "imhi", 'query\n"Consider this post: ""x"" Question: y"\n', 1, "header lacks"),
    ("imhi-empty-answer", "imhi", "imhi",
     'query,gpt-3.5-turbo\n"Consider this post: ""x"" Question: y?","Yes. Reasoning: z"\n"q",""\n', 3, "empty"),
]


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_malformed_row_names_file_and_line_and_writes_nothing(tmp_path, case):
    _, fmt, task, text, line, words = case
    raw = tmp_path / "raw" / ("input.csv" if fmt == "imhi" else "input.jsonl" if fmt == "jsonl" else "input.tsv")
    raw.parent.mkdir()
    raw.write_bytes(text.encode("utf-8"))
    out = tmp_path / "out"
    cfg = DataBuildConfig(out_dir=out, sources=[{"name": "src", "format": fmt, "task": task,
                                                "splits": {"train": raw}}])
    with pytest.raises(DataError) as err:
        build_dataset(cfg)
    assert str(err.value).startswith(f"{raw}:{line}"), str(err.value)
    assert words in err.value.reason
    # the message names file, line and column but never quotes a value of the row
    values = {v for row in text.splitlines()[1:] for v in re.split(r'[\t,"]+', row)}
    quoted = [v for v in values if len(v) >= 2 and not v.isascii() and v in str(err.value)]
    assert quoted == [], str(err.value)
    assert not out.exists(), "a failed build must leave nothing behind"


def test_undecodable_bytes_name_the_line(tmp_path):
    raw = tmp_path / "input.tsv"
    # 0xFF 0xFF is neither UTF-8 nor a valid GB18030 sequence.
    raw.write_bytes(HL_HEADER.encode() + "1\t0\t还好\n".encode() + b"2\t1\t\xff\xff\n")
    cfg = DataBuildConfig(out_dir=tmp_path / "out",
                          sources=[{"name": "s", "format": "sos_hl_1k", "task": "suicide_risk",
                                    "splits": {"train": raw}}])
    with pytest.raises(DataError, match=rf"^{raw}:3: not valid UTF-8 or GB18030"):
        build_dataset(cfg)
    assert not (tmp_path / "out").exists()


def test_missing_file_is_named(tmp_path):
    missing = tmp_path / "nope.tsv"
    cfg = DataBuildConfig(out_dir=tmp_path / "out",
                          sources=[{"name": "s", "format": "sos_4k", "task": "suicide_level",
                                    "splits": {"train": missing}}])
    with pytest.raises(DataError, match=f"{missing}: file not found"):
        build_dataset(cfg)


def test_failed_rebuild_keeps_previous_output_intact(tmp_path):
    raw = tmp_path / "in.tsv"
    raw.write_text(L4_HEADER + L4_OK, encoding="utf-8")
    cfg = DataBuildConfig(out_dir=tmp_path / "out", val_fraction=0.0,
                          sources=[{"name": "s", "format": "sos_4k", "task": "suicide_level",
                                    "splits": {"train": raw}}])
    build_dataset(cfg)
    before = (tmp_path / "out" / "train.jsonl").read_bytes()
    raw.write_text(L4_HEADER + L4_OK + "坏\t99\tx\n", encoding="utf-8")
    with pytest.raises(DataError):
        build_dataset(cfg)
    assert (tmp_path / "out" / "train.jsonl").read_bytes() == before
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["README.md", "hf", "stats.json", "train.jsonl"]


def test_a_malformed_row_names_its_column():
    from mentalglm.data.formats import read_sos_4k
    from pathlib import Path
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        raw = Path(tmp) / "l4.tsv"
        raw.write_text(L4_HEADER + "我想死，真的\t七级\t解释\n", encoding="utf-8")
        (error,) = list(read_sos_4k(raw))
    assert (error.line, error.column, error.reason) == (2, 2, "level must be an integer 0-10 (column myLabel)")
