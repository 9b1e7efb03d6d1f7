"""A built split read through `datasets` (memory-mapped Parquet): the same records as the JSON lines, in task order,
labels back as names; `first(n)`, slicing and negative indices; a folder without Parquet is a named error."""

import shutil

import pytest

from mentalglm.errors import DataError
from mentalglm.data.records import load_split
from mentalglm.data.split_records import split_records


def test_split_records_equal_the_jsonl_records_task_by_task(sample_data_dir):
    for split in ("train", "test"):
        records = split_records(sample_data_dir, split)
        expected = sorted(load_split(sample_data_dir, split), key=lambda r: r.task)  # stable: file order per task
        assert len(records) == len(expected) > 0
        assert list(records) == expected
        assert records.tasks == sorted({r.task for r in expected})


def test_tasks_filter_slices_and_first(sample_data_dir):
    only = split_records(sample_data_dir, "test", ["suicide_risk", "suicide_level"])
    expected = [r for r in sorted(load_split(sample_data_dir, "test"), key=lambda r: r.task)
                if r.task in ("suicide_risk", "suicide_level")]
    assert list(only) == expected and only.tasks == ["suicide_level", "suicide_risk"]
    assert only[-1] == expected[-1] and only[1:4] == expected[1:4]
    with pytest.raises(IndexError):
        only[len(expected)]
    head = only.first(len(expected) - 1)  # crosses from the first task into the second
    assert list(head) == expected[:-1]
    assert list(only.first(2)) == expected[:2] and head.first(0).tasks == []


def test_a_folder_without_parquet_is_an_error_naming_it(sample_data_dir, tmp_path):
    data = tmp_path / "old-build"
    data.mkdir()
    shutil.copy(sample_data_dir / "test.jsonl", data / "test.jsonl")  # JSON lines only: an older build
    with pytest.raises(DataError) as err:
        split_records(data, "test")
    assert str(data / "hf") in str(err.value) and "mentalglm data build" in str(err.value)
    with pytest.raises(DataError):
        split_records(sample_data_dir, "test", ["no_such_task"])


def test_evenly_spaced_gives_every_task_its_share(sample_data_dir):
    records = split_records(sample_data_dir, "train")
    by_task = {t: [r for r in records if r.task == t] for t in records.tasks}
    counts = {t: len(rs) for t, rs in by_task.items()}
    assert len(counts) == 3 and min(counts.values()) >= 6, counts
    for size in (3, 6, 10, len(records) - 1):
        subset = records.evenly_spaced(size)
        assert len(subset) == size and len({r.id for r in subset}) == size
        share = {t: sum(r.task == t for r in subset) for t in counts}
        assert all(n >= 1 for n in share.values())
        for task, n in share.items():  # within one record of the exact proportional share
            assert abs(n - size * counts[task] / len(records)) < 1 + 1e-9, (size, share)
        # spread over each task's records, not its first n
        for task in counts:
            picked = [by_task[task].index(r) for r in subset if r.task == task]
            assert picked == sorted(picked) and (len(picked) < 2 or picked[-1] >= counts[task] // 2)
    assert records.evenly_spaced(None) is records and records.evenly_spaced(len(records) + 5) is records
    tiny = split_records(sample_data_dir, "val")  # one record of one task among several: it is still picked
    assert {r.task for r in tiny.evenly_spaced(len(tiny.tasks))} == set(tiny.tasks)


def test_a_limit_sample_is_seeded_and_stratified_by_label_even_when_the_split_is_sorted(tmp_path):
    from mentalglm.config import DataBuildConfig
    from mentalglm.data.build import build_dataset
    from mentalglm.data.split_records import split_records

    raw = tmp_path / "hl.tsv"  # sorted by label, as SOS-HL-1K's test split is: 30 low, then 10 high
    raw.write_text("id\tlabel\tcomment\n" + "".join(f"{i}\t{int(i >= 30)}\t第{i}条帖子，今天的心情编号是{i * 7919}\n"
                                                     for i in range(40)), encoding="utf-8")
    build_dataset(DataBuildConfig(out_dir=tmp_path / "data", val_fraction=0, near_duplicate_jaccard=None, sources=[
        {"name": "hl", "format": "sos_hl_1k", "task": "suicide_risk", "splits": {"train": raw, "test": raw}}]))
    records = split_records(tmp_path / "data", "test")
    assert [r.labels[0] for r in records.first(8)] == ["低自杀风险"] * 8  # what "the first N" gave
    sample = records.stratified(8, seed=0)
    assert sorted(r.labels[0] for r in sample) == ["低自杀风险"] * 6 + ["高自杀风险"] * 2  # shares by size
    assert [r.id for r in sample] == [r.id for r in records.stratified(8, seed=0)]  # seeded
    assert [r.id for r in sample] != [r.id for r in records.stratified(8, seed=1)]
    ids = [r.id for r in sample]
    assert ids == sorted(ids)  # kept in the split's order
    assert len(records.stratified(100, seed=0)) == 40
