"""cluster.yaml against the autoscaler's JSON schema shipped inside ray; the KubeRay manifests and the Serve
config file parse, carry the required fields and describe the same cluster and application."""

import json
from pathlib import Path

import jsonschema
import ray
import yaml

from paths import REPO

CLUSTER = yaml.safe_load((REPO / "cluster.yaml").read_text())
KUBERAY = REPO / "deploy" / "kuberay"


def _load(name: str) -> dict:
    return yaml.safe_load((KUBERAY / name).read_text())


def test_cluster_yaml_validates_against_rays_autoscaler_schema():
    schema = json.loads((Path(ray.__file__).parent / "autoscaler" / "ray-schema.json").read_text())
    jsonschema.validate(CLUSTER, schema)
    from ray.autoscaler._private.util import prepare_config, validate_config

    # what `ray up` does before launching: fill in defaults, then the launcher's own checks
    validate_config(prepare_config(CLUSTER))


def test_cluster_yaml_has_a_cpu_head_autoscaling_gpu_workers_setup_mounts_and_shared_storage():
    types = CLUSTER["available_node_types"]
    head, worker = types[CLUSTER["head_node_type"]], types["gpu_worker"]
    assert head["resources"]["GPU"] == 0
    assert worker["min_workers"] == 0 and worker["max_workers"] >= 1 and worker["resources"]["GPU"] >= 1
    assert CLUSTER["idle_timeout_minutes"] > 0
    assert any("pip install" in c and "/home/ray/mentalglm" in c for c in CLUSTER["setup_commands"])
    assert CLUSTER["file_mounts"]["/home/ray/mentalglm"] == "."
    assert any("/mnt/shared" in c for c in CLUSTER["initialization_commands"])
    for name in ("train/glm4-9b-lora.yaml", "tune/glm4-9b-lora.yaml"):
        cfg = yaml.safe_load((REPO / "configs" / name).read_text())
        assert cfg["run"]["storage_path"].startswith("s3://"), name  # object-store checkpoints
        assert cfg["run"]["local_dir"].startswith("/mnt/shared/"), name
        assert cfg["ray"]["cluster"] == "cluster.yaml", name
    assert yaml.safe_load((REPO / "configs/serve/cluster.yaml").read_text())["ray"]["cluster"] == "cluster.yaml"


def _containers(spec: dict) -> list[dict]:
    return spec["template"]["spec"]["containers"]


def _check_cluster_spec(spec: dict) -> dict:
    """Required RayCluster fields; returns the GPU worker group."""
    head = spec["headGroupSpec"]
    assert _containers(head)[0]["image"] and "rayStartParams" in head
    (group,) = spec["workerGroupSpecs"]
    assert group["groupName"] and _containers(group)[0]["image"] == _containers(head)[0]["image"]
    for pod in (head, group):
        mounts = {m["mountPath"] for m in _containers(pod)[0]["volumeMounts"]}
        assert "/mnt/shared" in mounts
        claims = [v["persistentVolumeClaim"]["claimName"] for v in pod["template"]["spec"]["volumes"]
                  if "persistentVolumeClaim" in v]
        assert claims == [_load("shared-storage.yaml")["metadata"]["name"]]
    # the same worker shape as cluster.yaml's gpu_worker
    worker = CLUSTER["available_node_types"]["gpu_worker"]
    limits = _containers(group)[0]["resources"]["limits"]
    assert int(limits["nvidia.com/gpu"]) == worker["resources"]["GPU"]
    assert int(limits["cpu"]) <= worker["resources"]["CPU"]
    assert spec["rayVersion"] == ray.__version__
    return group


def test_rayjob_runs_the_training_job_entry_point():
    job = _load("rayjob-train.yaml")
    assert job["apiVersion"] == "ray.io/v1" and job["kind"] == "RayJob" and job["metadata"]["name"]
    entry = job["spec"]["entrypoint"]
    assert entry == "bash deploy/prepare-data.sh && python ray_jobs/train.py --config configs/train/glm4-9b-lora.yaml"
    assert (REPO / "deploy/prepare-data.sh").exists()
    assert (REPO / "ray_jobs/train.py").exists() and (REPO / "configs/train/glm4-9b-lora.yaml").exists()
    assert job["spec"]["shutdownAfterJobFinishes"] is True
    assert yaml.safe_load(job["spec"]["runtimeEnvYAML"])["working_dir"] == "/home/ray/mentalglm"
    _check_cluster_spec(job["spec"]["rayClusterSpec"])


def test_rayservice_serves_the_same_application_as_the_serve_config_file_and_autoscales():
    from ray.serve.schema import ServeDeploySchema

    service = _load("rayservice.yaml")
    assert service["apiVersion"] == "ray.io/v1" and service["kind"] == "RayService"
    serve_config = yaml.safe_load(service["spec"]["serveConfigV2"])
    ServeDeploySchema.model_validate(serve_config)
    assert serve_config == yaml.safe_load((REPO / "deploy/serve.yaml").read_text())
    cluster = service["spec"]["rayClusterConfig"]
    assert cluster["enableInTreeAutoscaling"] is True
    group = _check_cluster_spec(cluster)
    worker = CLUSTER["available_node_types"]["gpu_worker"]
    assert group["minReplicas"] == worker["min_workers"] and group["maxReplicas"] == worker["max_workers"]


def test_dockerfile_installs_the_project_where_the_manifests_expect_it():
    text = (REPO / "deploy/Dockerfile").read_text()
    assert f"FROM rayproject/ray:{ray.__version__}-py311-gpu" in text
    assert "WORKDIR /home/ray/mentalglm" in text and "pip install" in text
