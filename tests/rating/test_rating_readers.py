"""The rating readers on the shapes real exports and filled sheets come in (issue 27): each malformed shape is a
`DataError` naming the file and line (and the task, annotation or criterion), never a traceback; random JSON and
CSV give only `DataError` (hypothesis)."""

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mentalglm.errors import DataError
from mentalglm.rating.labelstudio import read_labelstudio
from mentalglm.rating.readers import load_key, read_mentalllama, read_rater_csv

KEY = {"systems": {"S1": "alpha"}, "items": {"i1": {"system": "alpha"}, "i2": {"system": "alpha"}}}


def _result(criterion="fluency", choices=("2",), kind="choices"):
    return {"from_name": criterion, "to_name": "explanation", "type": kind, "value": {"choices": list(choices)}}


def _task(item="i1", rater="r1", results=None):
    return {"id": 1, "data": {"item_id": item},
            "annotations": [{"completed_by": {"id": 1, "email": rater}, "was_cancelled": False,
                             "result": [_result()] if results is None else results}]}


def _write(tmp_path, obj, name="export.json"):
    path = tmp_path / name
    path.write_text(obj if isinstance(obj, str) else json.dumps(obj, ensure_ascii=False, indent=1))
    return path


def test_a_tasks_object_and_a_plain_list_read_the_same(tmp_path):
    as_list = read_labelstudio(_write(tmp_path, [_task()], "a.json"), KEY)
    as_object = read_labelstudio(_write(tmp_path, {"tasks": [_task()], "project": 3}, "b.json"), KEY)
    assert as_list == as_object and [(r.item, r.system, r.criterion, r.rater, r.score) for r in as_list] == [
        ("i1", "alpha", "fluency", "r1", 2)]


def test_annotations_null_is_an_unannotated_task(tmp_path):
    task = _task()
    task["annotations"] = None
    assert read_labelstudio(_write(tmp_path, [task, _task("i2")]), KEY)[0].item == "i2"


def _annotation(**change):
    task = _task()
    task["annotations"][0].update(change)
    return task


# (export, line of the task, reason): the line is where the task starts in the file
LS_CASES = {
    "not-an-export": ("3", 1, "not a Label Studio export (a list of tasks, or an object with `tasks`)"),
    "task-a-string": ([_task(), "i2"], 29, "task 2 is not an object"),
    "data-null": ([{"data": None, "annotations": []}], 2, "task 1 has no data.item_id"),
    "item-not-in-key": ([_task("i9")], 2, "item 'i9' is not in the key"),
    "annotations-a-string": ([{"data": {"item_id": "i1"}, "annotations": "x"}], 2, "task 1: annotations is not a list"),
    "no-completed-by": ([_annotation(completed_by=None)], 2,
                        "task 1, annotation 1 has no completed_by (the rater): ratings without a rater cannot be "
                        "told apart"),
    "two-choices": ([_task(results=[_result(choices=("1", "2"))])], 2,
                    "task 1, annotation 1: 2 choices for fluency, one expected"),
    "no-choice": ([_task(results=[_result(choices=())])], 2,
                  "task 1, annotation 1: 0 choices for fluency, one expected"),
    "no-value": ([_task(results=[{"from_name": "fluency", "type": "choices"}])], 2,
                 "task 1, annotation 1: the result for fluency has no value.choices"),
    "rating-type": ([_task(results=[_result(kind="rating")])], 2,
                    "task 1, annotation 1: the result for fluency is of type 'rating'; the rating set asks for one "
                    "choice of 0-3 (type 'choices')"),
    "result-a-number": ([_task(results=7)], 2, "task 1, annotation 1: result is not a list"),
    "rated-twice": ([_task(), _task()], 29, "item 'i1' is rated twice on fluency by rater r1 (first at line 2)"),
    "bad-score": ([_task(results=[_result(choices=("5",))])], 2, "score '5' is not one of 0-3 (field fluency)"),
}


@pytest.mark.parametrize("case", LS_CASES)
def test_a_malformed_label_studio_export_names_file_line_and_what(tmp_path, case):
    export, line, reason = LS_CASES[case]
    path = _write(tmp_path, export)
    with pytest.raises(DataError) as refused:
        read_labelstudio(path, KEY)
    where = f"{path}:{line}"
    assert str(refused.value) == (f"{where}: {reason}" if "(field" not in reason else
                                  f"{where} {reason[reason.index('(field'):]}: {reason[:reason.index(' (field')]}")


def test_not_json_names_the_line(tmp_path):
    path = _write(tmp_path, '[\n {"data": \n')
    with pytest.raises(DataError, match=rf"^{path}:3: not JSON \(Expecting value\)$"):
        read_labelstudio(path, KEY)


HEADER = "item_id,rater,fluency,completeness,reliability,overall\n"
CSV_CASES = {
    "no-item-id": ("rater,fluency\nr1,2\n", 1, "no item_id column; the header has: rater, fluency"),
    "no-rater": ("item_id,fluency\ni1,2\n", 1, "no rater column; the header has: item_id, fluency"),
    "no-criteria": ("item_id,rater,score\ni1,r1,2\n", 1,
                    "no criterion column (fluency, completeness, reliability, overall); the header has: item_id, "
                    "rater, score"),
    "rated-twice": (HEADER + "i1,r1,2,,,\ni2,r1,1,,,\ni1,r1,3,,,\n", 4,
                    "item 'i1' is rated twice on fluency by rater r1 (first at line 2)"),
    "extra-field": (HEADER + "i1,r1,2,2,2,2,9\n", 2, "7 fields, the header has 6"),
}


@pytest.mark.parametrize("case", CSV_CASES)
def test_a_malformed_rater_csv_names_file_line_and_columns(tmp_path, case):
    text, line, reason = CSV_CASES[case]
    path = _write(tmp_path, text, "r.csv")
    with pytest.raises(DataError) as refused:
        read_rater_csv(path, KEY)
    assert str(refused.value) == f"{path}:{line}: {reason}"


@pytest.mark.parametrize("text", [
    "Item_ID,Rater,Fluency,Overall\ni1,r1,2,3\n",
    "item_id;rater;fluency;overall\ni1;r1;2;3\n",
    " item_id , rater , fluency , overall \ni1,r1,2,3\n",
    "item_id\trater\tfluency\toverall\ni1\tr1\t2\t3\n",
], ids=["capitalised", "semicolons", "padded", "tabs"])
def test_headers_as_spreadsheets_write_them_are_read(tmp_path, text):
    ratings = read_rater_csv(_write(tmp_path, text, "r.csv"), KEY)
    assert [(r.item, r.rater, r.criterion, r.score) for r in ratings] == [("i1", "r1", "fluency", 2),
                                                                          ("i1", "r1", "overall", 3)]


def test_a_mentalllama_file_without_a_criterion_column_names_it(tmp_path):
    path = _write(tmp_path, "text,label,fluency\nx,y,[3]\n", "m.csv")
    with pytest.raises(DataError) as refused:
        read_mentalllama(path)
    assert str(refused.value) == (f"{path}:1: no completeness column; the header has: text, label, fluency")


@pytest.mark.parametrize("text, reason", [
    ("{", "not JSON"), ("[]", "not an export key (no `items` object)"),
    ('{"items": {"i1": 3}}', "item 'i1' has no system"),
])
def test_a_malformed_key_is_named(tmp_path, text, reason):
    (tmp_path / "key.json").write_text(text)
    with pytest.raises(DataError) as refused:
        load_key(tmp_path)
    assert str(refused.value).startswith(f"{tmp_path / 'key.json'}") and reason in str(refused.value)


JSON = st.recursive(st.none() | st.booleans() | st.integers(-3, 5) | st.text(max_size=6),
                    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(
                        st.sampled_from(["data", "item_id", "annotations", "result", "value", "choices", "from_name",
                                         "type", "completed_by", "email", "id", "was_cancelled", "tasks",
                                         "fluency"]) | st.text(max_size=5), inner, max_size=4), max_leaves=20)
TASK = st.fixed_dictionaries({"data": st.fixed_dictionaries({"item_id": st.sampled_from(["i1", "i2", "i9"]) | JSON})
                              | JSON, "annotations": st.lists(st.fixed_dictionaries(
                                  {"completed_by": JSON, "result": st.lists(st.fixed_dictionaries(
                                      {"from_name": st.sampled_from(["fluency", "overall", "x"]) | JSON,
                                       "type": st.sampled_from(["choices", "rating"]) | JSON,
                                       "value": st.fixed_dictionaries({"choices": st.lists(
                                           st.sampled_from(["0", "3", "7"]) | JSON, max_size=2)}) | JSON}) | JSON,
                                      max_size=3) | JSON}) | JSON, max_size=3) | JSON}) | JSON
EXPORTS = st.lists(TASK, max_size=4) | st.fixed_dictionaries({"tasks": st.lists(TASK, max_size=3) | JSON}) | JSON
CELLS = st.sampled_from(["", "i1", "i2", "r1", "2", "9", "[3, 2]", "[x", '"', ";", "\t", ",", "\n", "Fluency"])
TABLES = st.lists(st.lists(CELLS, max_size=7), max_size=5).map(
    lambda rows: "\n".join([",".join(["item_id", "rater", "fluency", "completeness", "reliability", "overall"][:4])]
                           + [",".join(row) for row in rows])) | st.text(max_size=80)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                  HealthCheck.function_scoped_fixture])
@given(export=EXPORTS)
def test_any_json_gives_ratings_or_a_data_error(tmp_path, export):
    path = _write(tmp_path, export)
    for key in (KEY, None):
        try:
            read_labelstudio(path, key)
        except DataError:
            pass


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                  HealthCheck.function_scoped_fixture])
@given(table=TABLES)
def test_any_table_gives_ratings_or_a_data_error(tmp_path, table):
    path = _write(tmp_path, table, "t.csv")
    for read in (lambda: read_rater_csv(path, KEY), lambda: read_rater_csv(path, None), lambda: read_mentalllama(path)):
        try:
            read()
        except DataError:
            pass
