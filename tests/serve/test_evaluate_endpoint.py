"""`mentalglm evaluate --endpoint URL`: a split scored through the running service, with the same metrics as
scoring in process."""

import json

from conftest import TOKEN
from paths import REPO

from mentalglm.cli import main as cli_main


def test_endpoint_scores_match_in_process_scores(served, tiny_adapter_dir, tiny_model_dir, sample_data_dir,
                                                 tmp_path, monkeypatch):
    url, _, _ = served
    common = ["evaluate", str(REPO / "configs/evaluate/tiny.yaml"), f"model.name_or_path={tiny_model_dir}",
              f"data.dir={sample_data_dir}", "evaluate.max_new_tokens=24", "evaluate.progress=false",
              "--split", "test"]
    assert cli_main([*common, "--checkpoint", str(tiny_adapter_dir), "--out", str(tmp_path / "local")]) == 0
    monkeypatch.setenv("MENTALGLM_API_TOKEN", TOKEN)
    assert cli_main([*common, "--endpoint", url, "--out", str(tmp_path / "served")]) == 0

    local = json.loads((tmp_path / "local/metrics.json").read_text())
    served = json.loads((tmp_path / "served/metrics.json").read_text())
    assert served["model"] == url and set(served["tasks"]) == set(local["tasks"])
    for task, metrics in local["tasks"].items():
        assert served["tasks"][task]["n"] == metrics["n"] > 0
        assert served["tasks"][task]["parse_failure_rate"] == metrics["parse_failure_rate"]
    rows = lambda name: [json.loads(x) for x in (tmp_path / name / "predictions.jsonl").read_text().splitlines()]
    assert [(r["id"], r["predicted"]) for r in rows("served")] == [(r["id"], r["predicted"]) for r in rows("local")]


def test_endpoint_without_the_token_fails_with_a_message(served, sample_data_dir, tiny_model_dir, tmp_path,
                                                         monkeypatch, capsys):
    url, _, _ = served
    monkeypatch.delenv("MENTALGLM_API_TOKEN", raising=False)
    code = cli_main(["evaluate", str(REPO / "configs/evaluate/tiny.yaml"), f"model.name_or_path={tiny_model_dir}",
                     f"data.dir={sample_data_dir}", "evaluate.progress=false", "--split", "test",
                     "--endpoint", url, "--out", str(tmp_path / "x")])
    assert code == 2
    assert "HTTP 401" in capsys.readouterr().err
    assert not (tmp_path / "x").exists()
