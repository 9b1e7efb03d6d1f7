"""A served tiny model for the serving tests: one Ray cluster (with its dashboard) for this folder's tests, two
applications on one Serve instance.

`main` (route /) requires a bearer token, read from a file that ends in a newline as Kubernetes secrets do,
batches up to 4 requests and streams 2 answers at once; `strict` (route /strict, loopback, no token) has one slot,
one queue place and a 0.5 s request timeout, for the overload and timeout tests.
"""

from pathlib import Path

import pytest

from paths import REPO

TOKEN = "test-token-0123"


def serve_config(model_dir: Path, data_dir: Path, port: int, **serve):
    """configs/serve/local.yaml pointed at the test model and data, with `serve` keys overridden."""
    from mentalglm.config import load_config
    from mentalglm.config.serve import ServeConfig

    overrides = [f"model.name_or_path={model_dir}", f"data.dir={data_dir}", f"serve.port={port}"]
    overrides += [f"serve.{k}={v}" for k, v in serve.items()]
    return load_config(ServeConfig, REPO / "configs/serve/local.yaml", overrides)


_RUNNING: dict = {}


def _stop() -> None:
    import ray
    from ray import serve

    if _RUNNING.pop("up", None) and ray.is_initialized():
        serve.shutdown()
        ray.shutdown()


def pytest_runtest_teardown(item, nextitem):
    # The service is shared by every module here; stop it (and its Ray) after the last of them, so the next
    # directory's tests start their own Ray cluster.
    if nextitem is None or Path(__file__).parent not in Path(nextitem.path).parents:
        _stop()


@pytest.fixture(scope="session")
def served(tiny_model_dir, tiny_adapter_dir, sample_data_dir, tmp_path_factory):
    """(main URL, strict URL, main config): both applications, started for the first serving test that asks
    and stopped after the last test of this folder."""
    import ray

    from mentalglm.serve.service import start_service
    from mentalglm.serve.smoke import free_port

    ray.init(num_cpus=2, include_dashboard=True, log_to_driver=False)
    _RUNNING["up"] = True
    port = free_port()
    token_file = tmp_path_factory.mktemp("secrets") / "api-token"
    token_file.write_text(TOKEN + "\n", encoding="utf-8")
    main_cfg = serve_config(tiny_model_dir, sample_data_dir, port, max_new_tokens=8, max_batch_size=4,
                            batch_wait_timeout_s=0.05, max_ongoing_requests=8, max_queued_requests=64,
                            max_concurrent_streams=2, cpus_per_replica=0.5, torch_threads=1,
                            token_file=token_file)
    main = start_service(main_cfg, tiny_adapter_dir)
    strict_cfg = serve_config(tiny_model_dir, sample_data_dir, port, app_name="strict", route_prefix="/strict",
                              max_new_tokens=8, max_batch_size=1, max_ongoing_requests=1, max_queued_requests=1,
                              request_timeout_s=0.5, max_tokens_limit=2000, cpus_per_replica=0.5,
                              torch_threads=1)
    strict = start_service(strict_cfg, tiny_adapter_dir)
    yield main, strict, main_cfg
    _stop()


@pytest.fixture
def auth() -> dict:
    return {"Authorization": f"Bearer {TOKEN}"}
