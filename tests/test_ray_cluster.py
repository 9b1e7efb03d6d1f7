"""The local cluster the project starts (`mentalglm.cluster.connect.ensure_ray`): training workers at niceness 0, no
dashboard unless the config asks for one, no preemption watcher."""

import threading
import time
import urllib.error
import urllib.request

import psutil
import pytest

from paths import REPO


def _watch(seen: dict, stop: threading.Event) -> None:
    """Record (command line, niceness) of every process under this one until `stop` is set. A Ray worker's title
    changes over its life (ray::IDLE, ray::RayTrainWorker…, back to idle when the run ends): once seen as a training
    worker, that record is kept."""
    while not stop.is_set():
        for proc in psutil.Process().children(recursive=True):
            try:
                if "RayTrainWorker" not in seen.get(proc.pid, ("",))[0]:
                    seen[proc.pid] = (" ".join(proc.cmdline()), proc.nice())
            except psutil.Error:
                pass
        time.sleep(0.2)


def test_training_workers_run_at_niceness_0_and_no_dashboard_starts(tiny_model_dir, sample_data_dir, tmp_path):
    import ray

    from mentalglm.config import load_config
    from mentalglm.config.train import TrainConfig
    from mentalglm.train import train

    assert not ray.is_initialized()
    cfg = load_config(TrainConfig, REPO / "configs/train/tiny-lora.yaml", [
        f"model.name_or_path={tiny_model_dir}", f"data.dir={sample_data_dir}", f"run.storage_path={tmp_path}",
        f"deepspeed.config={REPO / 'configs/deepspeed/zero2.json'}", "train.max_steps=2", "train.checkpoint_every=2"])
    assert (cfg.ray.dashboard, cfg.ray.num_cpus) == (False, 2)
    seen: dict[int, tuple[str, int]] = {}
    stop = threading.Event()
    watcher = threading.Thread(target=_watch, args=(seen, stop), daemon=True)
    watcher.start()
    try:
        result = train(cfg)  # starts the project's own local cluster
        dashboard_url = ray._private.worker.get_dashboard_url()
    finally:
        stop.set()
        watcher.join()
        ray.shutdown()
    assert result.metrics["finished"]
    workers = [nice for cmd, nice in seen.values() if "RayTrainWorker" in cmd]
    assert len(workers) >= 2 and set(workers) == {0}, seen
    assert not [cmd for cmd, _ in seen.values() if cmd.startswith("ray-dashboard-")]  # no dashboard modules
    # Ray 2.60 always starts its API-server process; off, it loads only the usage-stats module and serves nothing
    api = [cmd for cmd, _ in seen.values() if "dashboard/dashboard.py" in cmd]
    assert all("--modules-to-load=UsageStatsHead" in cmd and "--disable-frontend" in cmd for cmd in api)
    assert not dashboard_url
    # nor Ray Train's preemption watcher, an actor that polls the node's drain state: nothing drains one's own machine
    assert not [cmd for cmd, _ in seen.values() if "PreemptionWatcher" in cmd]


def test_the_dashboard_starts_when_asked_for():
    import ray

    from mentalglm.config.schema import RaySection
    from mentalglm.cluster.connect import ensure_ray

    assert not ray.is_initialized()
    ensure_ray(RaySection(num_cpus=1, dashboard=True))
    try:
        url = ray._private.worker.get_dashboard_url()
        with pytest.raises(urllib.error.HTTPError) as answer:  # it answers: 401 without Ray's token
            urllib.request.urlopen(f"http://{url}/api/version", timeout=30)
        assert answer.value.code == 401
    finally:
        ray.shutdown()
