"""Every place of a run and of a sweep, from one object: local stores and object-store URIs."""

from pathlib import Path

from mentalglm.runs.layout import RunLayout


def test_a_local_run_keeps_everything_in_its_store(tmp_path):
    run = RunLayout(str(tmp_path / "runs"), "local-tiny")
    assert not run.remote and run.home == run.store == tmp_path / "runs" / "local-tiny"
    assert run.final_location == run.final_dir == tmp_path / "runs" / "local-tiny" / "final"
    assert run.fingerprint_location == tmp_path / "runs" / "local-tiny" / "run_fingerprint.json"
    stage = run.child("first")
    assert stage.final_location == stage.final_dir == tmp_path / "runs" / "local-tiny" / "first" / "final"


def test_a_run_in_an_object_store_keeps_copies_on_the_driver():
    run = RunLayout("s3://bucket/runs", "glm4", Path("/home/u/runs"))
    assert run.remote and run.store == "s3://bucket/runs/glm4"
    assert run.final_location == "s3://bucket/runs/glm4/final" and run.final_dir == Path("/home/u/runs/glm4/final")
    stage = run.child("second")
    assert stage.final_location == "s3://bucket/runs/glm4/second/final"
    assert stage.final_dir == Path("/home/u/runs/glm4/second/final")


def test_a_sweep_and_its_trials():
    sweep = RunLayout("s3://bucket/runs", "sweep", Path("/home/u/runs"))
    assert sweep.tuner_state == "s3://bucket/runs/sweep/tuner"
    assert (sweep.best_location, sweep.best_dir) == ("s3://bucket/runs/sweep/best", Path("/home/u/runs/sweep/best"))
    trial = sweep.trial("abc_00001")
    assert trial.final_location == "s3://bucket/runs/sweep/trials/abc_00001/final"
    assert trial.home == Path("/home/u/runs/sweep/trials/abc_00001")
    local = RunLayout("/data/runs", "sweep").trial("abc_00001")
    assert local.final_location == local.final_dir == Path("/data/runs/sweep/trials/abc_00001/final")
