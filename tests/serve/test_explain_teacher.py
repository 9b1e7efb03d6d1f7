"""The project's own service (tiny model, token required) as the teacher of `data explain`, over real HTTP through
Ray Data: the run completes, the tiny model's nonsense answers are all rejected with their reasons counted, nothing
unverified is kept, and the output folder builds."""

import json

from conftest import TOKEN

from paths import REPO


def test_the_served_tiny_model_as_teacher(served, sample_data_dir, tmp_path, monkeypatch):
    from mentalglm.config import DataBuildConfig, load_config
    from mentalglm.config.explain import ExplainConfig
    from mentalglm.data.build import build_dataset
    from mentalglm.data.records import load_split
    from mentalglm.explain.run import run_explain
    from mentalglm.explain.verify import REASONS

    main_url, _, _ = served
    monkeypatch.setenv("TEACHER_TOKEN", TOKEN)
    out = tmp_path / "explained"
    cfg = load_config(ExplainConfig, REPO / "configs/data/explain-serve.yaml", [
        f"data_dir={sample_data_dir}", f"out_dir={out}", f"teacher.base_url={main_url}",
        "teacher.api_key_env=TEACHER_TOKEN", "teacher.max_tokens=16", "limit=6", "review=10",
        # greedy: sampled, the random tiny model sometimes stops at once, and an empty reply is a failed request
        "teacher.temperature=0.0"])
    stats = run_explain(cfg)

    r = stats["records"]
    assert (r["asked"], r["kept"], r["rejected"], r["failed"]) == (6, 0, 6, 0), stats
    assert sum(stats["rejections"].values()) == 6 * cfg.max_attempts == stats["requests"]
    assert set(stats["rejections"]) <= set(REASONS)
    before = {x.id: x for s in ("train", "val", "test") for x in load_split(sample_data_dir, s)}
    after = {x.id: x for s in ("train", "val", "test") for x in load_split(out, s)}
    assert after == before  # nothing kept, nothing dropped, nothing else touched
    assert len((out / "review.csv").read_text(encoding="utf-8").splitlines()) >= 2
    assert TOKEN not in json.dumps(stats) and TOKEN not in (out / "explain_provenance.jsonl").read_text()

    rebuilt = tmp_path / "rebuilt"
    build_dataset(DataBuildConfig(out_dir=rebuilt, val_fraction=0.0, near_duplicate_jaccard=None, sources=[
        {"name": "explained", "format": "jsonl", "splits": {"train": out / "train.jsonl"}}]))
    assert len(load_split(rebuilt, "train")) == len(load_split(out, "train"))
