"""The `mentalglm` console script and the ray_jobs entry points, run as a user runs them."""

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

from paths import REPO
from mentalglm.cli import VERBS, parse_args

MENTALGLM = Path(sys.executable).parent / "mentalglm"
ENV = {**os.environ, "HF_HUB_OFFLINE": "1"}


def _run(args, cwd=REPO):
    return subprocess.run(args, cwd=cwd, capture_output=True, text=True, env=ENV, timeout=300)


def test_verb_table_and_parser_agree():
    for name, verb in VERBS.items():
        if verb.schema is None:
            args = parse_args([*name.split(), "a.json", "b.json"])
            assert args.verb == name and args.files == ["a.json", "b.json"]
            continue
        args = parse_args([*name.split(), "x.yaml", "a.b=1"])
        assert args.verb == name and args.config == "x.yaml" and args.overrides == ["a.b=1"]
    assert parse_args(["--log-level", "DEBUG", "train", "x.yaml"]).log_level == "DEBUG"


def test_options_are_spellings_of_config_keys():
    args = parse_args(["evaluate", "c.yaml", "--checkpoint", "runs/x/final", "--split", "val", "--out", "o",
                       "--endpoint", "http://127.0.0.1:8000", "--judge", "configs/judge/vllm.yaml", "a=1"])
    assert args.overrides == ['evaluate.checkpoint="runs/x/final"', 'evaluate.split="val"', 'evaluate.out="o"',
                              'evaluate.endpoint="http://127.0.0.1:8000"', 'evaluate.judge="configs/judge/vllm.yaml"',
                              "a=1"]
    assert parse_args(["serve", "c.yaml", "--detach"]).overrides == ["serve.detach=true"]
    assert parse_args(["data", "explain", "c.yaml", "--review", "5"]).overrides == ["review=5"]
    assert parse_args(["data", "fetch", "c.yaml", "--from", "/m"]).overrides == ['source="/m"']
    job = parse_args(["--config", "c.yaml", "--checkpoint", "s3://b/final", "x=1"], job_verb="serve")
    assert (job.verb, job.config, job.overrides) == ("serve", "c.yaml", ['serve.checkpoint="s3://b/final"', "x=1"])


def test_an_option_and_its_key_reach_the_same_config(tmp_path):
    from mentalglm.config import load_config
    from mentalglm.config.evaluate import EvaluateConfig

    by_option = parse_args(["evaluate", "configs/evaluate/tiny.yaml", "--split", "val", "--out", "o 1"])
    by_key = parse_args(["evaluate", "configs/evaluate/tiny.yaml", "evaluate.split=val", "evaluate.out=o 1"])
    one, two = (load_config(EvaluateConfig, REPO / a.config, a.overrides) for a in (by_option, by_key))
    assert one == two and one.evaluate.output_dir() == Path("o 1")
    assert load_config(EvaluateConfig, REPO / "configs/evaluate/tiny.yaml").evaluate.output_dir() \
        == Path("runs/evaluate/test")


def test_no_verb_prints_the_verb_table():
    result = _run([str(MENTALGLM)])
    assert result.returncode == 2 and "evaluate compare" in result.stderr and "data build" in result.stderr
    assert _run([str(MENTALGLM), "--help"]).returncode == 0


def test_data_build_from_the_command_line(tmp_path):
    result = _run([str(MENTALGLM), "data", "build", "configs/data/sample.yaml", f"out_dir={tmp_path}/d"])
    assert result.returncode == 0, result.stderr
    assert f"{tmp_path}/d/train.jsonl: cognitive_distortion 20, suicide_risk 13, suicide_level 14" in result.stdout
    stats = json.loads((tmp_path / "d" / "stats.json").read_text())
    assert stats["counts"]["test"]["suicide_level"]["total"] == 3
    # Post text never reaches the logs.
    assert "同事" not in result.stderr and "考虑一下" not in result.stderr


def test_bad_config_exits_2_naming_the_key(tmp_path):
    result = _run([str(MENTALGLM), "data", "build", "configs/data/sample.yaml", "seed=abc", f"out_dir={tmp_path}"])
    assert result.returncode == 2
    assert "seed" in result.stderr and "configs/data/sample.yaml" in result.stderr
    assert "Traceback" not in result.stderr


def test_bad_data_exits_2_naming_file_and_line(tmp_path):
    raw = tmp_path / "bad.tsv"
    raw.write_text("comment\tmyLabel\texplain\n好累\t42\tx\n", encoding="utf-8")
    result = _run([str(MENTALGLM), "data", "build", "configs/data/sample.yaml", f"out_dir={tmp_path}/o",
                   f"sources.2.splits={{train: {raw}}}"])
    assert result.returncode == 2
    assert f"{raw}:2:2: level 42 outside 0-10 (column myLabel)" in result.stderr
    assert "好累" not in result.stderr  # the row's post is never quoted
    assert not (tmp_path / "o").exists()


def test_ray_job_entry_point_and_pipeline(tmp_path):
    # The pipeline, through its ray_jobs entry point, from a copy of the repo's configs and sample data.
    work = tmp_path / "work"
    shutil.copytree(REPO / "configs", work / "configs")
    shutil.copytree(REPO / "sample_data", work / "sample_data")
    # The pipeline's training stage starts its own local Ray (2 CPUs) inside the job process.
    result = _run([sys.executable, str(REPO / "ray_jobs" / "pipeline.py"), "--config", "configs/pipeline/local.yaml"],
                  cwd=work)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "report: runs/pipeline-local/summary.md" in result.stdout
    # the console: stage progress and the summary; Ray Tune's tables and the progress bars go to the run's log
    console = result.stdout + result.stderr
    assert "[pipeline] sweep: done in" in result.stdout and "log: runs/pipeline-local/pipeline.log" in result.stdout
    assert "Trial status" not in console and "Creating parquet" not in console and "examples/s" not in console
    # progress a person can follow: a line per sweep trial as it ends, a line per report of the memorising run
    assert re.search(r"^\[mentalglm tune\] trial 2/2 \w+ done: ", result.stdout, re.M), result.stdout[-3000:]
    assert re.search(r"^\[mentalglm train\] step \d+/\d+ · epoch [\d.]+ · train_loss [\d.]+", result.stdout, re.M)
    log = (work / "runs/pipeline-local/pipeline.log").read_text()
    assert "Trial status" in log and "Creating parquet" in log
    summary = json.loads((work / "runs/pipeline-local/summary.json").read_text())
    assert summary["tokenization"]["examples"] == 47
    assert summary["tokenization"]["padding_share_grouped"] < summary["tokenization"]["padding_share_random"]
    assert (work / "models/tiny-glm4/config.json").exists()
    assert (work / "models/tiny-glm4/tokenizer.json").exists()
    sweep = summary["sweep"]  # the sweep stage: two trials, the learning rate that learns wins, its adapter is served
    assert len(sweep["trials"]) == 2 and summary["train"] == {}
    (winner,) = [t for t in sweep["trials"] if t["trial"] == sweep["winner"]]
    assert winner["train.lr"] == 3e-3 and {t["status"] for t in sweep["trials"]} <= {"COMPLETED", "STOPPED_EARLY"}
    assert sweep["served_model_id"] == f"mentalglm-pipeline-sweep-{sweep['winner']}"
    assert (work / "runs/pipeline-sweep/best/adapter_model.safetensors").exists()
    report = (work / "runs/pipeline-local/summary.md").read_text()
    assert "## Sweep" in report and "## Evaluation (test)" in report and "## Serve smoke" in report
    assert f"Winner: **{sweep['winner']}**" in report
    smoke = summary["serve_smoke"]
    assert [r["route"] for r in smoke] == ["GET /healthz", "POST /v1/analyze", "POST /v1/chat/completions"]
    assert [r["status"] for r in smoke] == [200, 200, 200]
    assert smoke[0]["answer"] == sweep["served_model_id"]
    assert f"| task | metric | lora-pipeline-sweep-{sweep['winner']} | tfidf-char-logreg | memorised records |" in report
    memorised = json.loads((work / "runs/pipeline-local/memorised/metrics.json").read_text())["tasks"]
    assert [memorised[t]["parse_failure_rate"] for t in memorised] == [0.0, 0.0, 0.0]
    assert (memorised["cognitive_distortion"]["micro_f1"], memorised["suicide_risk"]["high_f1"],
            memorised["suicide_level"]["weighted_f1"]) == (1.0, 1.0, 1.0)
    assert [r["answer"] for r in summary["memorised"]] == [r["trained"] for r in summary["memorised"]]
    for name in ("evaluate", "baseline"):
        metrics = json.loads((work / "runs/pipeline-local" / name / "metrics.json").read_text())
        assert set(metrics["tasks"]) == {"cognitive_distortion", "suicide_risk", "suicide_level"}


# each verb with its options first and a key=value override after them (here a key the schema rejects, so the
# run stops at config validation, exit 2, naming the key: the override reached the config)
VERB_RUNS = {
    "data fetch": ["configs/data/fetch.yaml", "--from", "/nowhere"],
    "data build": ["configs/data/sample.yaml"],
    "model init": ["configs/model/tiny.yaml"],
    "train": ["configs/train/tiny-lora.yaml"],
    "plan": ["configs/train/glm4-9b-lora.yaml"],
    "tune": ["configs/tune/tiny-lora.yaml"],
    "evaluate": ["configs/evaluate/tiny.yaml", "--checkpoint", "runs/x/final", "--split", "val", "--out", "o"],
    "baseline": ["configs/evaluate/tiny.yaml", "--split", "val", "--out", "o"],
    "serve": ["configs/serve/local.yaml", "--checkpoint", "runs/x/final", "--detach"],
    "pipeline": ["configs/pipeline/local.yaml"],
    "data explain": ["configs/data/explain-vllm.yaml", "--review", "5"],
    "rate export": ["configs/rate/export.yaml"],
    "rate import": ["configs/rate/import.yaml"],
}
NO_CONFIG = {"evaluate compare"}


def test_every_verb_takes_an_override_after_its_options():
    assert set(VERB_RUNS) == set(VERBS) - NO_CONFIG
    for verb, words in VERB_RUNS.items():
        result = _run([str(MENTALGLM), *verb.split(), *words, "no_such_key.x=1"])
        assert result.returncode == 2, (verb, result.stderr[-500:])
        assert "no_such_key" in result.stderr and "unrecognized" not in result.stderr, (verb, result.stderr[-500:])
    args = parse_args(["serve", "configs/serve/local.yaml", "--checkpoint", "runs/x/final",
                       "serve.host=0.0.0.0", "serve.port=9000"])
    assert args.overrides == ['serve.checkpoint="runs/x/final"', "serve.host=0.0.0.0", "serve.port=9000"]
    args = parse_args(["evaluate", "c.yaml", "a=1", "--split", "val", "b=2"])
    assert args.overrides == ['evaluate.split="val"', "a=1", "b=2"]


def test_a_real_run_with_overrides_after_options(sample_data_dir, tmp_path):
    result = _run([str(MENTALGLM), "baseline", "configs/evaluate/tiny.yaml", "--split", "test", "--out",
                   str(tmp_path / "b"), f"data.dir={sample_data_dir}"])
    assert result.returncode == 0, result.stderr[-1000:]
    assert json.loads((tmp_path / "b" / "metrics.json").read_text())["split"] == "test"
    bad = _run([str(MENTALGLM), "baseline", "configs/evaluate/tiny.yaml", "--split", "test", "--oops"])
    assert bad.returncode == 2 and "unrecognized arguments: --oops" in bad.stderr
