"""Serve configs: deployment options, the `serve deploy` config file, the vLLM path's config, bad values."""

from pathlib import Path

import pytest
import yaml

from paths import REPO
from mentalglm.config import ConfigError, load_config
from mentalglm.config.serve import ServeConfig
from mentalglm.serve.service import app_builder, deployment_options, model_id, resolve_checkpoint
from mentalglm.serve.vllm_backend import build_vllm_app, export_merged, llm_config


def _cfg(*overrides):
    return load_config(ServeConfig, REPO / "configs/serve/local.yaml", list(overrides))


def test_fixed_replicas_and_autoscaling_options():
    fixed = deployment_options(_cfg("serve.num_replicas=2", "serve.max_queued_requests=5"))
    assert fixed["num_replicas"] == 2 and fixed["max_queued_requests"] == 5 and "autoscaling_config" not in fixed
    scaled = deployment_options(_cfg("serve.autoscaling={min_replicas: 0, max_replicas: 4, target_ongoing_requests: 6}"))
    assert scaled["autoscaling_config"]["max_replicas"] == 4 and "num_replicas" not in scaled
    assert scaled["ray_actor_options"]["num_cpus"] == 1


def test_deployment_options_carry_health_checks_and_never_the_token(monkeypatch):
    monkeypatch.setenv("MENTALGLM_API_TOKEN", "s3cret")
    options = deployment_options(_cfg("serve.health_check_period_s=2", "serve.health_check_timeout_s=7"))
    assert options["health_check_period_s"] == 2 and options["health_check_timeout_s"] == 7
    assert "s3cret" not in repr(options)


@pytest.mark.parametrize("override, key", [
    ("serve.max_batch_size=32", "serve"), ("serve.autoscaling={min_replicas: 3, max_replicas: 1}", "serve.autoscaling"),
    ("serve.backend=tgi", "serve.backend"), ("serve.max_new_tokens=9999", "serve"), ("serve.prot=1", "serve.prot"),
])
def test_bad_serve_values_name_the_key(override, key):
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
        _cfg(override)


def test_checkpoint_must_be_an_adapter_folder(tmp_path):
    with pytest.raises(ConfigError, match="serve.checkpoint: .* not a published adapter folder: manifest.json is "
                                          "missing"):
        resolve_checkpoint(_cfg(), tmp_path)
    assert resolve_checkpoint(_cfg(), None) is None
    assert model_id(_cfg(), None) == "tiny-glm4"
    assert model_id(_cfg("serve.model_id=glm4-mh"), tmp_path) == "glm4-mh"


def test_serve_deploy_file_validates_and_builds(tiny_model_dir, tiny_adapter_dir, sample_data_dir, tmp_path):
    from ray.serve.schema import ServeDeploySchema

    raw = yaml.safe_load((REPO / "deploy/serve.yaml").read_text())
    schema = ServeDeploySchema.model_validate(raw)
    (app,) = schema.applications
    assert app.import_path == "mentalglm.serve.service:app_builder" and app.route_prefix == "/"
    assert schema.http_options.host == "0.0.0.0"
    args = dict(app.args)
    assert (REPO / args["config"]).exists()
    overrides = [f"model.name_or_path={tiny_model_dir}", f"data.dir={sample_data_dir}"]
    with pytest.raises(ConfigError, match="serve.token_file"):  # bound to 0.0.0.0: no token file, no service
        app_builder({**args, "config": str(REPO / args["config"]), "checkpoint": str(tiny_adapter_dir),
                     "overrides": overrides})
    (tmp_path / "api-token").write_text("t0ken\n")
    built = app_builder({**args, "config": str(REPO / args["config"]), "checkpoint": str(tiny_adapter_dir),
                         "overrides": [*overrides, f"serve.token_file={tmp_path / 'api-token'}"]})
    assert type(built).__name__ == "Application"


def test_vllm_path_merges_the_adapter_and_fails_clearly_without_vllm(tiny_model_dir, tiny_adapter_dir, tmp_path):
    cfg = _cfg(f"model.name_or_path={tiny_model_dir}", "serve.backend=vllm",
               f"serve.vllm.merged_dir={tmp_path / 'merged'}", "serve.autoscaling={min_replicas: 1, max_replicas: 3}")
    merged = export_merged(cfg, str(tiny_adapter_dir))
    assert (merged / "config.json").exists() and (merged / "tokenizer.json").exists()
    assert not (merged / "adapter_config.json").exists()
    stamp = (merged / "model.safetensors").stat().st_mtime_ns
    assert export_merged(cfg, str(tiny_adapter_dir)) == merged  # the same adapter: the merge is reused
    assert (merged / "model.safetensors").stat().st_mtime_ns == stamp
    import shutil

    from mentalglm.runs.publish import write_manifest

    other = tmp_path / "other-final"
    shutil.copytree(tiny_adapter_dir, other)
    (other / "adapter_model.safetensors").write_bytes((other / "adapter_model.safetensors").read_bytes())
    (other / "README.md").write_text("retrained")
    write_manifest(other)
    assert export_merged(cfg, str(other)) == merged  # another adapter at the same merged_dir: merged again
    assert (merged / "model.safetensors").stat().st_mtime_ns != stamp
    fields = llm_config(cfg, str(merged), "mentalglm-x")
    assert fields["model_loading_config"] == {"model_id": "mentalglm-x", "model_source": str(merged)}
    assert fields["deployment_config"]["autoscaling_config"]["max_replicas"] == 3
    try:
        import vllm  # noqa: F401
    except ImportError:
        with pytest.raises(ConfigError, match="serve.backend: vllm needs vLLM"):
            build_vllm_app(cfg, str(tiny_adapter_dir), "mentalglm-x")


def test_checkpoint_in_object_storage_is_checked_and_named(tiny_adapter_dir, tmp_path):
    import shutil

    shutil.copytree(tiny_adapter_dir, tmp_path / "bucket" / "runs" / "glm4-x" / "final")
    uri = f"file://{tmp_path}/bucket/runs/glm4-x/final"
    assert resolve_checkpoint(_cfg(), uri) == uri
    assert model_id(_cfg(), uri) == "mentalglm-glm4-x"
    with pytest.raises(ConfigError, match="serve.checkpoint: file://.* manifest.json is missing"):
        resolve_checkpoint(_cfg(), f"file://{tmp_path}/bucket/nothing")
