"""Version-guarded workarounds: applied on the versions they were checked on, skipped with a warning elsewhere."""

import logging

from mentalglm.train import compat


def test_workarounds_apply_on_the_checked_versions():
    import deepspeed.ops

    assert compat.disable_deepspeed_cpu_shm_comm() is True
    assert deepspeed.ops.__compatible_ops__["deepspeed_shm_comm"] is False


def test_outside_the_checked_range_nothing_is_applied_and_a_warning_says_so(monkeypatch, caplog):
    monkeypatch.setattr(compat, "_version", lambda package: (99, 0))
    with caplog.at_level(logging.WARNING, logger="mentalglm.train.compat"):
        assert compat.disable_deepspeed_cpu_shm_comm() is False
        assert compat.load_partitioned_under_zero3({"zero_optimization": {"stage": 3}}) is False
    assert [r.getMessage().split(" is outside")[0] for r in caplog.records] == ["deepspeed 99.0", "transformers 99.0"]
