"""The rules every post passes before it becomes a record: control characters removed (and counted), posts over the
stated length cap refused as bad rows (and counted when skipped), never silently kept or dropped."""

import json

import pytest

from mentalglm.config import DataBuildConfig
from mentalglm.data.build import build_dataset
from mentalglm.data.post_rules import remove_control_characters
from mentalglm.errors import DataError

L4_HEADER = "comment\tmyLabel\texplain\n"

# (text, exact text after the rule, characters removed)
REMOVED = [
    ("我\x00好累", "我好累", 1),
    ("\x00\x00\x00", "", 3),
    ("退格\x08和响铃\x07", "退格和响铃", 2),
    ("换页\x0c垂直制表\x0b", "换页垂直制表", 2),
    ("转义\x1b[31m红字", "转义[31m红字", 1),
    ("删除\x7f和C1\x85\x9f", "删除和C1", 3),
]
# Whitespace and format characters a post may carry are kept, byte for byte.
KEPT = [
    "第一行\n第二行", "列1\t列2", "Windows 换行\r\n", "表情👨‍👩‍👧一家", "零宽\u200b空格", "全角　空格",
    "右到左\u200f标记", "普通的一句话。", "",
]


@pytest.mark.parametrize("text,expected,removed", REMOVED)
def test_control_characters_are_removed_and_counted(text, expected, removed):
    assert remove_control_characters(text) == (expected, removed)


@pytest.mark.parametrize("text", KEPT)
def test_whitespace_and_format_characters_are_kept(text):
    assert remove_control_characters(text) == (text, 0)


def _build(tmp_path, body: str, **cfg):
    raw = tmp_path / "l4.tsv"
    raw.write_text(L4_HEADER + body, encoding="utf-8")
    out = tmp_path / "out"
    config = DataBuildConfig(out_dir=out, val_fraction=0, sources=[
        {"name": "l4", "format": "sos_4k", "task": "suicide_level", "splits": {"train": raw}}], **cfg)
    return raw, out, config


def test_nul_bytes_are_removed_from_posts_and_counted_in_stats(tmp_path):
    _, out, cfg = _build(tmp_path, "好\x00累\t1\t解释\x00一下\n还行\t0\t\n")
    stats = build_dataset(cfg)
    rows = [json.loads(line) for line in (out / "train.jsonl").read_text(encoding="utf-8").splitlines()]
    assert [r["post"] for r in rows] == ["好累", "还行"] and rows[0]["explanation"] == "解释一下"
    assert stats["post_rules"] == {"max_post_chars": 20000, "control_characters_removed": {"fields": 2,
                                                                                           "characters": 2},
                                   "posts_over_max": 0}
    assert json.loads((out / "stats.json").read_text())["post_rules"] == stats["post_rules"]


def test_a_post_over_the_cap_is_a_bad_row_naming_file_line_and_the_cap(tmp_path):
    raw, out, cfg = _build(tmp_path, "好累\t1\t\n" + "长" * 3_500_000 + "\t2\t\n")
    with pytest.raises(DataError) as refused:
        build_dataset(cfg)
    assert str(refused.value) == (f"{raw}:3 (field post): the post has 3,500,000 characters, over max_post_chars "
                                  "(20,000); raise max_post_chars or set on_bad_row: skip")
    assert not out.exists()
    stats = build_dataset(cfg.model_copy(update={"on_bad_row": "skip"}))
    assert stats["skipped_rows"] == [{"file": str(raw), "line": 3, "column": "post", "reason":
                                      "the post has 3,500,000 characters, over max_post_chars (20,000); raise "
                                      "max_post_chars or set on_bad_row: skip"}]
    assert stats["post_rules"]["posts_over_max"] == 1 and stats["counts"]["train"]["suicide_level"]["total"] == 1


def test_the_cap_is_a_config_key(tmp_path):
    _, out, cfg = _build(tmp_path, "一二三四五\t1\t\n一二\t0\t\n", max_post_chars=4, on_bad_row="skip")
    stats = build_dataset(cfg)
    assert stats["post_rules"]["posts_over_max"] == 1 and stats["counts"]["train"]["suicide_level"]["total"] == 1


@pytest.mark.parametrize("body, line, reason", [
    ("", None, "no rows (a header and nothing else); a source split must hold at least one row"),
    ("好累\t12\t\n", None, "no rows left (1 skipped as malformed); a source split must hold at least one row"),
])
def test_a_source_split_with_no_rows_is_an_error_not_an_empty_set(tmp_path, body, line, reason):
    raw, out, cfg = _build(tmp_path, body, on_bad_row="skip")
    with pytest.raises(DataError) as refused:
        build_dataset(cfg)
    assert str(refused.value) == f"{raw}: {reason}"
    assert not out.exists()
