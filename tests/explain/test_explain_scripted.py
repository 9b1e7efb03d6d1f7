"""`data explain` through Ray Data against a scripted OpenAI-compatible server (real HTTP): every fixture behaviour
ends as the rules say, with its count in explain_stats.json; nothing unverified is kept, nothing is dropped; a
rerun asks only for what has no answer yet."""

import json

import pytest
from explain_helpers import build_posts, explain_config
from scripted_teacher import ScriptedTeacher

from mentalglm.config.explain import VerifySection
from mentalglm.data.records import load_split
from mentalglm.explain.verify import verify_answer

SR, CD, SL = "suicide_risk", "cognitive_distortion", "suicide_level"
# post -> (task, labels, the scripted behaviours of its requests)
CASES = {
    "这周一直在加班，累得不想说话。": (SR, ["低自杀风险"], ["good"]),
    "药已经攒够了，就等周末了。": (SR, ["高自杀风险"], ["good"]),
    "考试没考好，心情很差，想大哭一场。": (SR, ["低自杀风险"], ["wrong_label"]),
    "我把绳子挂好了，今晚就结束。": (SR, ["高自杀风险"], ["invented_quote"]),
    "失眠好几天了，白天没精神。": (SR, ["低自杀风险"], ["no_quote"]),
    "感觉没人在乎我，活着没意思。": (SR, ["低自杀风险"], ["english"]),
    "刀片放在枕头下面，随时可以用。": (SR, ["高自杀风险"], ["pii"]),
    "和朋友吵架了，很难过。": (SR, ["低自杀风险"], ["url"]),
    "遗书已经写好放在桌上了。": (SR, ["高自杀风险"], ["special_token"]),
    "今天下雨，心情有点闷。": (SR, ["低自杀风险"], ["http_429", "good"]),
    "明天就去天台，不想再撑了。": (SR, ["高自杀风险"], ["http_500", "good"]),
    "工作压力太大，头很疼。": (SR, ["低自杀风险"], ["timeout"]),
    "分手以后每天都哭。": (SR, ["低自杀风险"], ["malformed"]),
    "家里人总是骂我没用。": (SR, ["低自杀风险"], ["http_400"]),
    "已经三天没吃饭了，想就这样消失。": (SR, ["高自杀风险"], ["wrong_label", "good"]),
    "大家肯定都在背后笑话我。": (CD, ["读心术"], ["good"]),
}
ALREADY = ("又是被老板批评的一天。", SR, ["低自杀风险"], "发帖人只是抱怨「又是被老板批评的一天」，没有自杀相关内容。")
OTHER_TASK = ("周末想去海边走走，放松一下。", SL, ["1"], None)  # not in tasks: left as it is


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    rows = [(task, post, labels, None) for post, (task, labels, _) in CASES.items()]
    rows += [(ALREADY[1], ALREADY[0], ALREADY[2], ALREADY[3]), (OTHER_TASK[1], OTHER_TASK[0], OTHER_TASK[2], None)]
    return build_posts(tmp_path_factory.mktemp("explain"), rows)


BEHAVIOURS = {post: script for post, (_, _, script) in CASES.items()}


@pytest.fixture(scope="module")
def explained(ray_two_cpus, data_dir, tmp_path_factory):
    """(stats, out_dir, the server's request log) of one run over CASES."""
    from mentalglm.explain.run import run_explain

    out = tmp_path_factory.mktemp("explained") / "out"
    with ScriptedTeacher(BEHAVIOURS) as teacher:
        stats = run_explain(explain_config(data_dir, out, teacher.url, "max_attempts=2", "review=40"))
        return stats, out, list(teacher.requests)


def test_each_behaviour_ends_as_the_rules_say(explained, data_dir):
    from mentalglm.explain.run import run_explain

    stats, out, first_requests = explained
    assert stats["records"] == {"total": 18, "in_scope": 17, "already_explained": 1, "asked": 16, "kept": 6,
                                "rejected": 7, "failed": 3}
    assert stats["rejections"] == {"label_mismatch": 3, "no_quote": 2, "not_chinese": 2, "pii": 2,
                                   "quote_not_in_post": 2, "special_token": 2, "url": 2}
    assert stats["request_failures"] == {"http_4xx": 1, "malformed": 1, "timeout": 1}
    assert stats["requests"] == len(first_requests) == 27 and stats["cache_hits"] == 0
    assert json.loads((out / "explain_stats.json").read_text()) == stats
    # two samples of a record asked twice have different seeds
    seeds = [seed for post, seed in first_requests if post == "考试没考好，心情很差，想大哭一场。"]
    assert seeds == [0, 1]

    records = {r.post: r for r in load_split(out, "train")}
    assert len(records) == 18  # nothing dropped
    kept = {"这周一直在加班，累得不想说话。", "药已经攒够了，就等周末了。", "今天下雨，心情有点闷。",
            "明天就去天台，不想再撑了。", "已经三天没吃饭了，想就这样消失。", "大家肯定都在背后笑话我。"}
    for post, (task, labels, _) in CASES.items():
        record = records[post]
        assert record.labels == labels
        if post in kept:  # verified again here: nothing unverified is kept
            assert verify_answer(task, post, labels, record.response, VerifySection()).explanation == record.explanation
            assert record.response.endswith("理由：" + record.explanation)
        else:
            assert record.explanation is None and "理由" not in record.response
    assert records[ALREADY[0]].explanation == ALREADY[3]
    assert records[OTHER_TASK[0]].explanation is None
    provenance = {p["id"]: p for p in map(json.loads, (out / "explain_provenance.jsonl").read_text().splitlines())}
    by_post = {records[post].id: post for post in CASES}
    assert set(provenance) == set(by_post)
    for rid, p in provenance.items():
        assert p["teacher_model"] == "scripted" and p["prompt_version"] == 1 and len(p["prompt_sha256"]) == 64
        assert (p["status"] == "kept") == (by_post[rid] in kept)
    assert provenance[records["已经三天没吃饭了，想就这样消失。"].id]["sample"] == 1
    assert provenance[records["工作压力太大，头很疼。"].id]["failure"] == "timeout"

    import csv

    review = list(csv.DictReader((out / "review.csv").open(encoding="utf-8")))
    assert {r["status"] for r in review} == {"kept", "rejected"}
    assert {r["reason"] for r in review if r["status"] == "rejected"} == set(stats["rejections"])
    # the data folder is a data folder: Parquet and card for `datasets`, readable by training
    from mentalglm.data.split_records import split_records

    assert sorted(r.explanation or "" for r in split_records(out, "train")) == sorted(
        r.explanation or "" for r in records.values())

    # a rerun asks only for the records whose requests failed; every answer comes from the cache
    with ScriptedTeacher(BEHAVIOURS) as teacher:
        again = run_explain(explain_config(data_dir, out.with_name("again"), teacher.url, "max_attempts=2",
                                           f"cache_dir={out}.answers"))
        assert sorted(set(teacher.posts_requested())) == sorted(
            ["工作压力太大，头很疼。", "分手以后每天都哭。", "家里人总是骂我没用。"])
    # cached: one answer per record kept at its first sample (5), two for the one kept at its second, two per rejected
    assert again["records"]["kept"] == 6 and again["cache_hits"] == 5 + 2 + 7 * 2
    assert again["request_failures"] == stats["request_failures"]


def test_a_bad_config_is_named_before_anything_runs(data_dir, tmp_path, monkeypatch):
    from mentalglm.config import ConfigError
    from mentalglm.explain.run import run_explain

    with pytest.raises(ConfigError, match="out_dir: must differ from data_dir"):
        run_explain(explain_config(data_dir, data_dir, "http://127.0.0.1:9"))
    monkeypatch.delenv("NO_SUCH_TEACHER_KEY", raising=False)
    with pytest.raises(ConfigError, match="teacher.api_key_env: the environment variable NO_SUCH_TEACHER_KEY"):
        run_explain(explain_config(data_dir, tmp_path / "x", "http://127.0.0.1:9",
                                   "teacher.api_key_env=NO_SUCH_TEACHER_KEY"))
    assert not (tmp_path / "x").exists()


@pytest.mark.slow  # ~35 s: two CLI runs, each with its own Ray cluster
def test_a_killed_run_resumes_without_asking_again(data_dir, tmp_path):
    """The CLI in its own process group (its own local Ray cluster), killed with SIGKILL once half the records are
    answered; the rerun asks nothing for a record whose answer was cached, and a third run asks nothing at all."""
    import os
    import signal
    import subprocess
    import sys
    import time
    from pathlib import Path

    from mentalglm.chat.cache import AnswerCache
    from mentalglm.explain.prompts import load_prompt

    from paths import REPO

    many = build_posts(tmp_path / "many", [(SR, f"第{i}天，还是很难受，不知道该怎么办才好。", ["低自杀风险"], None)
                                           for i in range(40)])
    out = tmp_path / "explained"
    args = [str(Path(sys.executable).parent / "mentalglm"), "data", "explain", "configs/data/explain-vllm.yaml",
            f"data_dir={many}", f"out_dir={out}", "teacher.model=scripted", "teacher.api_key_env=null",
            "teacher.concurrency=2", "teacher.qps=null", "workers=1", "batch_size=2", "verify.consistency=false",
            "ray.num_cpus=2"]
    with ScriptedTeacher(latency_s=0.15) as teacher:
        proc = subprocess.Popen([*args, f"teacher.base_url={teacher.url}"], cwd=REPO, start_new_session=True,
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 240
        while len(teacher.requests) < 20 and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.05)
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        gone_by = time.monotonic() + 15  # the Ray workers of the group die a moment later than the CLI
        while time.monotonic() < gone_by:
            try:
                os.killpg(proc.pid, 0)
            except ProcessLookupError:
                break
            time.sleep(0.1)
        assert 20 <= len(teacher.requests) < 40, proc.stderr.read()[-2000:]
        killed_at = teacher.posts_requested()
    assert not out.exists()  # nothing half-written

    cache = AnswerCache(out.with_name(out.name + ".answers"), load_prompt(SR).sha256, "scripted")
    records = load_split(many, "train")
    cached = {r.post for r in records if cache.get(r.id, 0) is not None}
    assert len(cached) >= 15 and cached <= set(killed_at)

    with ScriptedTeacher() as teacher:
        done = subprocess.run([*args, f"teacher.base_url={teacher.url}"], cwd=REPO, capture_output=True, text=True,
                              timeout=300)
        assert done.returncode == 0, done.stderr[-3000:]
        asked_again = teacher.posts_requested()
    assert not set(asked_again) & cached and len(asked_again) == 40 - len(cached)
    assert json.loads((out / "explain_stats.json").read_text())["records"]["kept"] == 40

    with ScriptedTeacher() as teacher:
        done = subprocess.run([*args, f"teacher.base_url={teacher.url}"], cwd=REPO, capture_output=True, text=True,
                              timeout=300)
        assert done.returncode == 0 and teacher.requests == []
    assert "40 of 40 records explained" in done.stdout and "0 requests, 40 cached answers" in done.stdout


@pytest.mark.slow  # ~25 s of Ray Train
def test_the_explained_folder_builds_and_trains(explained, tiny_model_dir, tmp_path):
    """`data build` reads the explained records as a `jsonl` source, and `train` runs on the result."""
    from mentalglm.config import DataBuildConfig, load_config
    from mentalglm.config.train import TrainConfig
    from mentalglm.data.build import build_dataset
    from mentalglm.train import train

    from paths import REPO

    _, out, _ = explained
    rebuilt = tmp_path / "rebuilt"
    report = build_dataset(DataBuildConfig(out_dir=rebuilt, val_fraction=0.2, near_duplicate_jaccard=None, sources=[
        {"name": "explained", "format": "jsonl", "splits": {"train": out / "train.jsonl"}}]))
    explained_posts = {r.post: r.explanation for r in load_split(out, "train")}
    rebuilt_records = load_split(rebuilt, "train") + load_split(rebuilt, "val")
    assert len(rebuilt_records) == 18 and report["counts"]["val"]
    assert all(r.explanation == explained_posts[r.post] for r in rebuilt_records)
    result = train(load_config(TrainConfig, REPO / "configs/train/tiny-lora.yaml", [
        f"model.name_or_path={tiny_model_dir}", f"data.dir={rebuilt}", f"run.storage_path={tmp_path / 'runs'}",
        "train.epochs=1", "train.micro_batch_size=2", "scaling.num_workers=1", "train.checkpoint_every=100"]))
    assert result.final_dir is not None and (result.final_dir / "adapter_model.safetensors").exists()
