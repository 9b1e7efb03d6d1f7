"""The instruction-tuning formats users already have (`openai_chat`, `alpaca`, `sharegpt`): a good file of each
becomes exact unified rows, and each malformed case is a row error at its line; a build names `file:line`."""

import json

import pytest

from mentalglm.config import DataBuildConfig, SourceConfig
from mentalglm.data.build import build_dataset
from mentalglm.data.chat_formats import iter_json_items, make_chat_reader
from mentalglm.data.formats import RawRow, RowError
from mentalglm.errors import DataError

POST = "我已经把药都攒好了，这周末就结束这一切。"
HIGH = "发帖人表现出高自杀风险。理由：帖子提到“药都攒好了”和具体时间。"
LOW = "发帖人表现出低自杀风险。"
INSTRUCTION = f"考虑一下这个帖子：“{POST}”问题：发帖人的自杀风险是高还是低？"


def _write(path, lines) -> str:
    path.write_text("\n".join(x if isinstance(x, str) else json.dumps(x, ensure_ascii=False) for x in lines) + "\n",
                    encoding="utf-8")
    return path


def _read(fmt, path, task="suicide_risk"):
    return list(make_chat_reader(fmt, task)(path))


def _chat(user, answer, system="判断发帖人的自杀风险。"):
    return {"messages": [{"role": "system", "content": system}, {"role": "user", "content": user},
                         {"role": "assistant", "content": answer}]}


GOOD = {
    "openai_chat": [_chat(POST, HIGH), _chat(INSTRUCTION, LOW)],
    "alpaca": [{"instruction": "判断发帖人的自杀风险。", "input": POST, "output": HIGH},
               {"instruction": INSTRUCTION, "input": "", "output": LOW}],
    "sharegpt": [{"conversations": [{"from": "system", "value": "判断自杀风险"}, {"from": "human", "value": POST},
                                    {"from": "gpt", "value": HIGH}]},
                 {"conversations": [{"from": "human", "value": INSTRUCTION}, {"from": "gpt", "value": LOW}]}],
}
EXPECTED = [RawRow(1, POST, ["高自杀风险"], "帖子提到“药都攒好了”和具体时间。"), RawRow(2, POST, ["低自杀风险"], None)]


@pytest.mark.parametrize("fmt", sorted(GOOD))
def test_a_good_file_gives_exact_rows(tmp_path, fmt):
    assert _read(fmt, _write(tmp_path / "good.jsonl", GOOD[fmt])) == EXPECTED


def test_peer_style_chat_files_give_the_marked_labels_only(tmp_path):
    """The peer repository's own chat layout: suicide answers are the bare label; cognitive distortion answers a
    Markdown table whose header names all twelve labels over one 0/1 row (rows here are hand-written)."""
    names = "非此即彼 | 以偏概全 | 心理过滤 | 否定正面思考 | 读心术 | 先知错误 | 放大 | 情绪化推理 | 应该式 | 乱贴标签 | 罪责归己 | 罪责归他"
    table = f"id | {names}\n- | " + " | ".join(["----"] * 12) + "\n{id} | {cells}"
    cells = lambda *ones: " | ".join("1" if i in ones else "0" for i in range(12))  # noqa: E731
    cd = _write(tmp_path / "cd.jsonl", [_chat("大家肯定都在背后笑我。", table.format(id=7, cells=cells(4))),
                                         _chat("考砸一次，我这辈子就完了。", table.format(id=8, cells=cells(1, 6))),
                                         _chat("我就是个废物。", table.format(id=9, cells=cells(9)).replace("| 1 |", "| 是 |"))])
    rows = _read("openai_chat", cd, task="cognitive_distortion")
    assert rows[:2] == [RawRow(1, "大家肯定都在背后笑我。", ["读心术"], None),
                        RawRow(2, "考砸一次，我这辈子就完了。", ["以偏概全", "放大"], None)]
    assert isinstance(rows[2], RowError) and rows[2].line == 3 and "(table)" in rows[2].reason
    sr = _write(tmp_path / "sr.jsonl", [_chat("今天好累，想早点睡。", "低自杀风险"), _chat(POST, "高自杀风险")])
    assert [r.labels for r in _read("openai_chat", sr)] == [["低自杀风险"], ["高自杀风险"]]


@pytest.mark.parametrize("fmt", ["alpaca", "sharegpt"])
def test_a_json_array_file_gives_the_same_rows_with_item_lines(tmp_path, fmt):
    path = tmp_path / "good.json"
    path.write_text(json.dumps(GOOD[fmt], ensure_ascii=False, indent=2), encoding="utf-8")
    rows = _read(fmt, path)
    assert [(r.post, r.labels, r.explanation) for r in rows] == [(e.post, e.labels, e.explanation) for e in EXPECTED]
    text = path.read_text(encoding="utf-8").split("\n")
    assert [text[r.line - 1].strip() for r in rows] == ["{", "{"]  # each row's line is where its item starts


BAD = {
    "openai_chat": [
        ({"message": []}, "messages must be a non-empty list"),
        ({"messages": [{"role": "tool", "content": "x"}]}, "messages[0] needs a role"),
        ({"messages": [{"role": "user", "content": ["x"]}]}, "messages[0].content must be a string"),
        ({"messages": [{"role": "system", "content": "x"}, {"role": "assistant", "content": HIGH}]}, "no user turn"),
        ({"messages": [{"role": "user", "content": POST}]}, "no assistant turn"),
        (_chat(POST, "我不确定。"), "not a readable suicide_risk answer (no_label)"),
        (_chat("  ", HIGH), "empty post"),
        (_chat(POST, "发帖人并非低自杀风险。"), "not a readable suicide_risk answer (negated)"),
    ],
    "alpaca": [
        ({"instruction": "x", "input": POST}, "output must be a string"),
        ({"input": POST, "output": HIGH}, "instruction must be a string"),
        ({"instruction": "x", "input": 3, "output": HIGH}, "input must be a string"),
        ({"instruction": "   ", "input": "", "output": HIGH}, "empty post"),
        ({"instruction": "x", "input": POST, "output": "高自杀风险或低自杀风险"}, "(conflict)"),
        ({"instruction": "x", "input": POST, "output": ""}, "(empty)"),
    ],
    "sharegpt": [
        ({"conversation": []}, "conversations must be a non-empty list"),
        ({"conversations": [{"from": "human"}]}, "conversations[0] needs string `from` and `value`"),
        ({"conversations": [{"from": "gpt", "value": HIGH}]}, "no human turn"),
        ({"conversations": [{"from": "human", "value": POST}]}, "no gpt turn"),
        ({"conversations": [{"from": "human", "value": POST}, {"from": "gpt", "value": "不知道"}]}, "(no_label)"),
        ({"conversations": [{"from": "human", "value": "考虑一下这个帖子：“ ”问题：？"},
                            {"from": "gpt", "value": HIGH}]}, "empty post"),
    ],
}


@pytest.mark.parametrize("fmt, case", [(f, i) for f in sorted(BAD) for i in range(len(BAD[f]))])
def test_each_malformed_example_is_a_row_error_at_its_line(tmp_path, fmt, case):
    bad, reason = BAD[fmt][case]
    rows = _read(fmt, _write(tmp_path / "mixed.jsonl", [GOOD[fmt][0], bad, GOOD[fmt][1]]))
    assert rows[0] == EXPECTED[0] and rows[2].post == POST
    assert isinstance(rows[1], RowError) and rows[1].line == 2, rows[1]
    assert reason in rows[1].reason


@pytest.mark.parametrize("fmt", sorted(GOOD))
def test_lines_that_are_not_json_objects_are_row_errors(tmp_path, fmt):
    rows = _read(fmt, _write(tmp_path / "x.jsonl", ['{"messages": [', "[1, 2]", GOOD[fmt][0]]))
    assert [(r.line, r.reason.split(" (")[0]) for r in rows[:2]] == [(1, "not valid JSON"),
                                                                    (2, "expected a JSON object, got list")]
    assert rows[2] == RawRow(3, POST, ["高自杀风险"], EXPECTED[0].explanation)


def test_an_unclosed_array_is_an_error_at_its_end(tmp_path):
    path = tmp_path / "cut.json"
    path.write_text('[\n  {"a": 1},\n  {"b": ', encoding="utf-8")
    items = list(iter_json_items(path))
    assert items[0] == (2, {"a": 1}, None) and items[1][0] == 3 and "not valid JSON" in items[1][2].reason


def test_a_build_names_the_file_and_line_and_a_chat_format_needs_a_scored_task(tmp_path):
    path = _write(tmp_path / "chat.jsonl", [GOOD["openai_chat"][0], _chat(POST, "不知道")])
    cfg = DataBuildConfig(out_dir=tmp_path / "out", sources=[
        {"name": "mine", "format": "openai_chat", "task": "suicide_risk", "splits": {"train": path}}])
    with pytest.raises(DataError, match=rf"{path}:2: the answer is not a readable suicide_risk answer"):
        build_dataset(cfg)
    assert not (tmp_path / "out").exists()
    with pytest.raises(ValueError, match="format alpaca needs task"):
        SourceConfig(name="x", format="alpaca", splits={"train": path})
    with pytest.raises(ValueError, match="format sharegpt needs task"):
        SourceConfig(name="x", format="sharegpt", task="imhi", splits={"train": path})
