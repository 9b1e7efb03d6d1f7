"""Export two systems' explanations for rating, fill the Label Studio export (two raters) and the CSV (a third) with
scripted scores, import: the scripted means come back exactly, with each system unblinded correctly; what raters
see names no system; the labeling config and every filled annotation pass Label Studio's own validation."""

import csv
import io
import json
import subprocess
import sys
from pathlib import Path

import pytest

from mentalglm.config.rating import RateExportConfig, RateImportConfig
from mentalglm.data.records import load_split
from mentalglm.rating.export import export_rating_set
from mentalglm.rating.report import import_ratings
from mentalglm.tasks.rubric import CRITERIA
from paths import REPO

# scripted scores: system -> rater -> criterion index -> score
SCRIPT = {"alpha": {"r1": [3, 3, 2, 3], "r2": [3, 2, 2, 3], "r3": [2, 3, 3, 3]},
          "beta": {"r1": [1, 0, 0, 1], "r2": [2, 1, 0, 1], "r3": [1, 1, 1, 0]}}


def _predictions(path, records, system):
    rows = []
    for r in records:
        explanation = f"帖子写道「{r.post[:6]}」，符合该标签。" if system == "alpha" else f"看起来是{r.labels[0]}。"
        rows.append({"id": r.id, "task": r.task, "gold": r.labels, "predicted": r.labels, "raw": "",
                     "parse_ok": True, "explanation": explanation, "failure_kind": None})
    rows.append({"id": records[0].id, "task": records[0].task, "gold": records[0].labels, "predicted": None,
                 "raw": "???", "parse_ok": False, "explanation": None, "failure_kind": "no_label"})  # not rated
    path.write_text("".join(json.dumps(x, ensure_ascii=False) + "\n" for x in rows), encoding="utf-8")
    return path


def test_export_fill_import_round_trip(sample_data_dir, tmp_path):
    from label_studio_sdk.label_interface import LabelInterface

    records = load_split(sample_data_dir, "test")
    systems = {name: _predictions(tmp_path / f"{name}.jsonl", records, name) for name in SCRIPT}
    out = tmp_path / "rating"
    counts = export_rating_set(RateExportConfig(systems=systems, data_dir=sample_data_dir, split="test",
                                                per_system=None, seed=3, out_dir=out))
    assert counts == {"alpha": len(records), "beta": len(records)}

    config = (out / "labelstudio" / "config.xml").read_text(encoding="utf-8")
    interface = LabelInterface(config)
    interface.validate()
    tasks = json.loads((out / "labelstudio" / "tasks.json").read_text(encoding="utf-8"))
    sheet = (out / "ratings.csv").read_text(encoding="utf-8")
    for name in SCRIPT:  # blinded: raters see codes, never names
        assert name not in json.dumps(tasks, ensure_ascii=False) and name not in sheet
    key = json.loads((out / "key" / "key.json").read_text())
    assert sorted(key["systems"]) == ["S1", "S2"] and sorted(key["systems"].values()) == ["alpha", "beta"]
    codes = [t["data"]["system"] for t in tasks]
    assert codes != sorted(codes)  # the two systems' items are shuffled together

    def score(item_id, rater, i):
        return SCRIPT[key["items"][item_id]["system"]][rater][i]

    export = []
    for task in tasks:
        annotations = []
        for n, rater in enumerate(("r1", "r2"), start=1):
            result = [{"from_name": c, "to_name": "explanation", "type": "choices",
                       "value": {"choices": [str(score(task["data"]["item_id"], rater, i))]}}
                      for i, c in enumerate(CRITERIA)]
            annotation = {"completed_by": {"id": n, "email": rater}, "result": result, "was_cancelled": False}
            assert interface.validate_annotation(annotation)
            annotations.append(annotation)
        annotations.append({"completed_by": {"id": 9, "email": "r9"}, "result": [], "was_cancelled": True})
        export.append({"id": len(export) + 1, "data": task["data"], "annotations": annotations})
    (tmp_path / "ls-export.json").write_text(json.dumps(export, ensure_ascii=False), encoding="utf-8")

    rows = list(csv.DictReader(io.StringIO(sheet)))
    for row in rows:
        row["rater"] = "r3"
        for i, c in enumerate(CRITERIA):
            row[c] = str(score(row["item_id"], "r3", i))
    filled = io.StringIO()
    writer = csv.DictWriter(filled, fieldnames=list(rows[0]))
    writer.writeheader()
    writer.writerows(rows)
    (tmp_path / "r3.csv").write_text(filled.getvalue(), encoding="utf-8")

    result = import_ratings(RateImportConfig(labelstudio=[tmp_path / "ls-export.json"], csv=[tmp_path / "r3.csv"],
                                             key=out / "key", out_dir=tmp_path / "report", bootstrap=200))
    assert result["ratings"] == 2 * len(records) * 3 * len(CRITERIA)
    for system, raters in SCRIPT.items():
        for i, criterion in enumerate(CRITERIA):
            s = result["systems"][system][criterion]
            assert (s["items"], s["raters"]) == (len(records), 3)
            assert s["mean"] == pytest.approx(sum(r[i] for r in raters.values()) / 3, abs=1e-12)
            assert s["ci95"][0] == pytest.approx(s["mean"]) == pytest.approx(s["ci95"][1])  # same per item
    assert result["correlations"]["overall"]["grounding_rate"]["n"] == len(records)  # alpha's quotes only
    report = (tmp_path / "report" / "report.md").read_text(encoding="utf-8")
    assert "| alpha | overall |" in report and (tmp_path / "report" / "means.png").read_bytes()[:4] == b"\x89PNG"


def test_a_bad_score_is_named_with_file_line_and_criterion(sample_data_dir, tmp_path):
    from mentalglm.errors import DataError
    from mentalglm.rating.readers import read_rater_csv

    records = load_split(sample_data_dir, "test")
    out = tmp_path / "rating"
    export_rating_set(RateExportConfig(systems={"alpha": _predictions(tmp_path / "a.jsonl", records, "alpha")},
                                       data_dir=sample_data_dir, per_system=3, out_dir=out))
    rows = list(csv.DictReader(io.StringIO((out / "ratings.csv").read_text(encoding="utf-8"))))
    rows[1].update(rater="r1", fluency="4")
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(rows[0]))
    writer.writeheader()
    writer.writerows(rows)
    path = tmp_path / "bad.csv"
    path.write_text(buffer.getvalue(), encoding="utf-8")
    key = json.loads((out / "key" / "key.json").read_text())
    with pytest.raises(DataError) as err:
        read_rater_csv(path, key)
    assert str(err.value).startswith(f"{path}:") and "(field fluency)" in str(err.value) and "'4'" in str(err.value)
    with pytest.raises(DataError, match="need the export's key"):
        read_rater_csv(path, None)


def test_an_export_with_no_item_to_rate_is_an_error_and_writes_nothing(sample_data_dir, tmp_path):
    records = load_split(sample_data_dir, "test")
    unrated = tmp_path / "unrated.jsonl"
    unrated.write_text("".join(json.dumps({"id": r.id, "task": r.task, "predicted": None, "explanation": None}) + "\n"
                               for r in records), encoding="utf-8")
    out = tmp_path / "rating"
    run = subprocess.run([str(Path(sys.executable).parent / "mentalglm"), "rate", "export",
                          str(REPO / "configs/rate/export.yaml"), f"systems={{\"alpha\": \"{unrated}\"}}",
                          f"data_dir={sample_data_dir}", f"out_dir={out}"], capture_output=True, text=True,
                         timeout=120)
    assert (run.returncode, run.stderr) == (2, f"error: {unrated}: no item of system 'alpha' can be rated: none "
                                               "has an explanation and a label (an empty rating set is not "
                                               "written)\n")
    assert not out.exists()


@pytest.mark.parametrize("line, reason", [
    ('"just a string"', "expected a JSON object, got str"),
    ('{"task": "suicide_risk", "predicted": ["高自杀风险"], "explanation": "x"}',
     "not a prediction (an object with id, task, predicted, explanation)"),
    ('{"id": "a", "task": "suicide_risk", "predicted": "高自杀风险", "explanation": "x"}',
     "explanation must be text and predicted a list of labels"),
])
def test_a_malformed_prediction_line_is_named(sample_data_dir, tmp_path, line, reason):
    from mentalglm.errors import DataError

    path = tmp_path / "p.jsonl"
    path.write_text(line + "\n", encoding="utf-8")
    with pytest.raises(DataError) as refused:
        export_rating_set(RateExportConfig(systems={"alpha": path}, data_dir=sample_data_dir,
                                           out_dir=tmp_path / "out"))
    assert str(refused.value) == f"{path}:1: {reason}"
