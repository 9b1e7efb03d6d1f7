"""`data build` also writes a Hugging Face dataset: `load_dataset(out_dir, task)` gives each task's splits with the
declared features (labels as class labels over the task's names) and the same records as the JSON lines."""

import json

from mentalglm.data.records import load_split
from mentalglm.tasks import SCORED_TASKS, get_task


def test_load_dataset_gives_each_task_with_its_features_and_the_jsonl_records(sample_data_dir):
    from datasets import ClassLabel, load_dataset

    card = (sample_data_dir / "README.md").read_text(encoding="utf-8")
    assert card.startswith("---\nconfigs:") and "## Build config" in card and "SHA-256 of the config" in card
    stats = json.loads((sample_data_dir / "stats.json").read_text())
    for task in SCORED_TASKS:
        data = load_dataset(str(sample_data_dir), task)
        assert set(data) == {s for s in ("train", "val", "test") if task in stats["counts"].get(s, {})}
        for split, rows in data.items():
            feature = rows.features["labels"].feature
            assert isinstance(feature, ClassLabel) and feature.names == list(get_task(task).labels)
            assert rows.features["explanation"].dtype == "string"
            expected = [r for r in load_split(sample_data_dir, split) if r.task == task]
            assert len(rows) == len(expected) == stats["counts"][split][task]["total"]
            assert rows["id"] == [r.id for r in expected] and rows["post"] == [r.post for r in expected]
            assert [[feature.names[i] for i in labels] for labels in rows["labels"]] == [r.labels for r in expected]
            assert rows["explanation"] == [r.explanation for r in expected]
            assert f"| {split} | {task} | {len(rows)} |" in card
