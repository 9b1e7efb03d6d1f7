"""`data explain` over the real label-only training data (../shared/data: SocialCD-3K and SOS-HL-1K train and the
val carved from them) against the scripted teacher, two Ray Data workers: the run finishes, every record asked is
explained, and each explanation passes the verifier with the consistency check off (the scripted teacher's
explanations carry no label signal)."""

from explain_helpers import explain_config
from scripted_teacher import ScriptedTeacher

from paths import REPO


def test_explain_the_real_label_only_data(shared_data, ray_two_cpus, tmp_path):
    from mentalglm.config import DataBuildConfig, load_config
    from mentalglm.data.build import build_dataset
    from mentalglm.data.records import load_split
    from mentalglm.explain.run import run_explain

    data_cfg = load_config(DataBuildConfig, REPO / "configs/data/cimhi.yaml",
                           [f"out_dir={tmp_path / 'cimhi'}", "splits=[train,val]"])  # the mirror has no test files
    for source in data_cfg.sources:
        source.splits = {k: shared_data / v.relative_to("data/raw") for k, v in source.splits.items()}
    build_dataset(data_cfg)
    before = {s: load_split(tmp_path / "cimhi", s) for s in ("train", "val")}
    asked = sum(1 for recs in before.values() for r in recs
                if r.task in ("cognitive_distortion", "suicide_risk") and not r.explanation)
    assert asked > 3000

    with ScriptedTeacher() as teacher:
        stats = run_explain(explain_config(tmp_path / "cimhi", tmp_path / "out", teacher.url, "workers=2",
                                           "teacher.concurrency=8", "teacher.qps=null", "batch_size=32"))
        answered = len(teacher.requests)
    assert answered == stats["requests"]  # one request per record: no retries were needed
    r = stats["records"]
    assert r["asked"] == asked and r["kept"] + r["rejected"] + r["failed"] == asked
    assert r["failed"] == 0 and r["kept"] >= 0.99 * asked, stats["rejections"]
    after = {s: load_split(tmp_path / "out", s) for s in ("train", "val")}
    assert {s: [x.id for x in recs] for s, recs in after.items()} == {s: [x.id for x in recs] for s, recs in before.items()}
    assert sum(1 for recs in after.values() for x in recs if x.explanation) == r["kept"] + sum(
        1 for recs in before.values() for x in recs if x.explanation)


def test_the_consistency_check_runs_in_the_workers(shared_data, ray_two_cpus, tmp_path):
    """With verify.consistency on, the workers apply the TF-IDF model fitted on the train split's gold labels to each
    explanation: the kept ones are exactly those the same model, fitted again here, agrees with."""
    from mentalglm.config import DataBuildConfig, load_config
    from mentalglm.data.build import build_dataset
    from mentalglm.data.records import load_split
    from mentalglm.evaluate.baseline import LabelModel
    from mentalglm.explain.run import run_explain

    data_cfg = load_config(DataBuildConfig, REPO / "configs/data/cimhi.yaml",
                           [f"out_dir={tmp_path / 'cimhi'}", "splits=[train,val]"])
    data_cfg.sources = [s for s in data_cfg.sources if s.task == "suicide_risk"]
    for source in data_cfg.sources:
        source.splits = {k: shared_data / v.relative_to("data/raw") for k, v in source.splits.items()}
    build_dataset(data_cfg)
    with ScriptedTeacher() as teacher:
        cfg = explain_config(tmp_path / "cimhi", tmp_path / "out", teacher.url, "tasks=[suicide_risk]",
                             "verify.consistency=true", "limit=200", "max_attempts=1")
        stats = run_explain(cfg)
    train = load_split(tmp_path / "cimhi", "train")
    model = LabelModel("suicide_risk", [r.post for r in train], [r.labels for r in train], cfg.verify.consistency_model)
    out = {r.id: r for s in ("train", "val") for r in load_split(tmp_path / "out", s)}
    asked = [r for s in ("train", "val") for r in load_split(tmp_path / "cimhi", s)][:200]
    agree = {r.id for r in asked if model.predict([out[r.id].explanation or _good(r)])[0] == r.labels}
    kept = {r.id for r in asked if out[r.id].explanation}
    assert stats["records"]["kept"] == len(kept) and stats["rejections"].get("inconsistent", 0) == 200 - len(kept)
    assert 0 < len(kept) < 200 and kept == agree


def _good(record):
    from scripted_teacher import answer_text

    from mentalglm.tasks import parse_response, render_response

    answer = answer_text("good", record.post, render_response("suicide_risk", record.labels))
    return parse_response("suicide_risk", answer).explanation
