"""Built records read back (`load_split`): a line of the wrong shape or with a field of the wrong type is a
DataError naming the file and line, never a record that breaks a later step."""

import json

import pytest

from mentalglm.data.records import load_split
from mentalglm.errors import DataError

GOOD = {"id": "a", "task": "suicide_risk", "source": "s", "split": "train", "post": "我好累", "labels": ["高自杀风险"],
        "explanation": None, "instruction": "i", "response": "r"}


@pytest.mark.parametrize("line, reason", [
    ("[]", "expected a JSON object, got list"),
    (json.dumps({"id": "a"}), "record lacks field(s) ['task', 'source', 'split', 'post', 'labels', 'explanation', "
                              "'instruction', 'response']"),
    (json.dumps({**GOOD, "labels": "高自杀风险"}), "field(s) ['labels'] of the wrong type (text; labels a list of text; "
                                              "explanation text or null)"),
    (json.dumps({**GOOD, "id": 7, "explanation": 3}), "field(s) ['id', 'explanation'] of the wrong type (text; labels "
                                                      "a list of text; explanation text or null)"),
])
def test_a_record_of_the_wrong_shape_is_named_with_its_line(tmp_path, line, reason):
    (tmp_path / "train.jsonl").write_text(json.dumps(GOOD, ensure_ascii=False) + "\n" + line + "\n")
    with pytest.raises(DataError) as refused:
        load_split(tmp_path, "train")
    assert str(refused.value) == f"{tmp_path / 'train.jsonl'}:2: {reason}"


def test_a_good_record_loads_as_written(tmp_path):
    (tmp_path / "train.jsonl").write_text(json.dumps(GOOD, ensure_ascii=False) + "\n")
    (record,) = load_split(tmp_path, "train")
    assert record.to_dict() == GOOD
