"""The cluster path as a user runs it: manifests valid under KubeRay v1.7.0's CRDs (strict) and Kubernetes' schemas;
cluster.yaml and the KubeRay groups describe the same node types; every shipped train, tune and serve config is
placeable by Ray's own autoscaler on both; a head started as cluster.yaml starts it refuses a client without the
token; the cluster page (docs/cluster.md) runs word for word up to the first command that needs a cloud."""

import copy
import os
import re
import stat
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import jsonschema
import pytest
import yaml

from paths import REPO, SHARED_DATA

KUBERAY = REPO / "deploy" / "kuberay"
CRDS = REPO.parent / "shared" / "k8s" / "kuberay-v1.7.0"
MANIFESTS = sorted(KUBERAY.glob("*.yaml"))
RAY_KINDS = {"RayCluster": "ray.io_rayclusters.yaml", "RayJob": "ray.io_rayjobs.yaml",
             "RayService": "ray.io_rayservices.yaml"}


def _strict(schema):
    """The CRD schema with unknown fields refused, as the API server does with strict field validation."""
    if isinstance(schema, dict):
        schema = {k: _strict(v) for k, v in schema.items()}
        if "properties" in schema and "additionalProperties" not in schema \
                and not schema.get("x-kubernetes-preserve-unknown-fields"):
            schema["additionalProperties"] = False
        return schema
    if isinstance(schema, list):
        return [_strict(v) for v in schema]
    return schema


def _crd_schema(kind):
    if not CRDS.exists():
        pytest.skip("../shared/k8s is absent")
    crd = yaml.safe_load((CRDS / RAY_KINDS[kind]).read_text())
    (version,) = [v for v in crd["spec"]["versions"] if v["name"] == "v1"]
    return _strict(version["schema"]["openAPIV3Schema"])


def _pod_templates(doc):
    spec = doc["spec"]
    cluster = {"RayJob": lambda: spec["rayClusterSpec"], "RayService": lambda: spec["rayClusterConfig"],
               "RayCluster": lambda: spec}[doc["kind"]]()
    return [cluster["headGroupSpec"]["template"]] + [g["template"] for g in cluster["workerGroupSpecs"]]


def _validate(doc):
    """Raise unless `doc` is valid: Ray kinds against the CRD, every object (and pod template) against Kubernetes."""
    import kubernetes_validate

    version = kubernetes_validate.latest_version()
    if doc["kind"] in RAY_KINDS:
        jsonschema.validate(doc, _crd_schema(doc["kind"]))
        for template in _pod_templates(doc):
            kubernetes_validate.validate({"apiVersion": "v1", "kind": "PodTemplate", "metadata": {"name": "t"},
                                          "template": template}, version, strict=True)
    else:
        kubernetes_validate.validate(doc, version, strict=True)


@pytest.mark.parametrize("path", MANIFESTS, ids=[p.name for p in MANIFESTS])
def test_every_manifest_is_valid(path):
    for doc in yaml.safe_load_all(path.read_text()):
        _validate(doc)


@pytest.mark.parametrize("break_it,message", [
    (lambda d: d["spec"]["rayClusterSpec"]["headGroupSpec"].update(rayStartParam={}), "rayStartParam"),
    (lambda d: d["spec"]["rayClusterSpec"]["workerGroupSpecs"][0].update(replicas="one"), "'one'"),
    (lambda d: d["spec"]["rayClusterSpec"]["authOptions"].update(mode="on"), "'on'"),
    (lambda d: _pod_templates(d)[1]["spec"]["containers"][0].update(resource={}), "resource"),
])
def test_a_wrong_copy_fails(break_it, message):
    import kubernetes_validate

    doc = yaml.safe_load((KUBERAY / "rayjob-train.yaml").read_text())
    _validate(copy.deepcopy(doc))
    break_it(doc)
    with pytest.raises((jsonschema.ValidationError, kubernetes_validate.ValidationError), match=message):
        _validate(doc)
    claim = yaml.safe_load((KUBERAY / "shared-storage.yaml").read_text())
    claim["spec"]["accessMode"] = claim["spec"].pop("accessModes")
    with pytest.raises(kubernetes_validate.ValidationError, match="accessMode"):
        _validate(claim)


def _descriptions():
    from mentalglm.cluster.placement import cluster_yaml_node_types, kuberay_node_types

    out = {"cluster.yaml": cluster_yaml_node_types(REPO / "cluster.yaml")}
    for name in ("rayjob-train.yaml", "rayservice.yaml"):
        out[name] = kuberay_node_types(yaml.safe_load((KUBERAY / name).read_text()), name)
    return out


def test_cluster_yaml_and_the_kuberay_groups_describe_the_same_node_types():
    d = _descriptions()
    launcher = d["cluster.yaml"].shape()
    head, (worker,) = launcher.pop("head"), launcher.values()
    for name in ("rayjob-train.yaml", "rayservice.yaml"):
        shape = d[name].shape()
        assert shape.pop(d[name].head)["resources"] == head["resources"], name
        (group,) = shape.values()
        assert group["resources"] == worker["resources"] == {"CPU": 90, "GPU": 8, "accelerator_type:A100": 1}, name
    service = d["rayservice.yaml"].shape()["gpu-worker"]
    assert (service["min_workers"], service["max_workers"]) == (worker["min_workers"], worker["max_workers"])
    job = d["rayjob-train.yaml"].shape()["gpu-worker"]
    assert job["min_workers"] == job["max_workers"] == 1  # the job's own cluster: one node of that type
    # the pods ask Kubernetes for what they tell Ray
    for name in ("rayjob-train.yaml", "rayservice.yaml"):
        head_pod, worker_pod = _pod_templates(yaml.safe_load((KUBERAY / name).read_text()))
        assert int(head_pod["spec"]["containers"][0]["resources"]["limits"]["cpu"]) == head["resources"]["CPU"]
        assert int(worker_pod["spec"]["containers"][0]["resources"]["limits"]["cpu"]) == worker["resources"]["CPU"]


def _shipped_configs():
    from mentalglm.config import load_config
    from mentalglm.config.evaluate import EvaluateConfig
    from mentalglm.config.serve import ServeConfig
    from mentalglm.config.train import TrainConfig
    from mentalglm.config.tune import TuneConfig

    for folder, schema in (("train", TrainConfig), ("tune", TuneConfig), ("serve", ServeConfig),
                           ("evaluate", EvaluateConfig)):
        for path in sorted((REPO / "configs" / folder).glob("*.yaml")):
            yield f"{folder}/{path.name}", load_config(schema, path)


def test_every_shipped_config_is_placeable_on_both_descriptions():
    from mentalglm.cluster.placement import config_bundles, unplaceable

    configs = dict(_shipped_configs())
    assert {"train/glm4-9b-lora.yaml", "tune/glm4-9b-lora.yaml", "serve/cluster.yaml"} <= set(configs)
    for desc_name, nodes in _descriptions().items():
        for cfg_name, cfg in configs.items():
            bundles = config_bundles(cfg)
            assert bundles and unplaceable(nodes, bundles) == [], (desc_name, cfg_name)


def test_an_accelerator_no_node_type_has_is_named():
    from mentalglm.config import load_config
    from mentalglm.config.serve import ServeConfig
    from mentalglm.config.train import TrainConfig
    from mentalglm.cluster.placement import config_bundles, unplaceable

    nodes = _descriptions()
    serve = load_config(ServeConfig, REPO / "configs/serve/cluster.yaml", ["serve.accelerator_type=H100"])
    for desc in nodes.values():
        reasons = unplaceable(desc, config_bundles(serve))
        assert len(reasons) == 4 and reasons[0].startswith("serve replica 1/4 ")
        assert f"no node type of {desc.source} has accelerator_type:H100" in reasons[0]
    too_many = load_config(TrainConfig, REPO / "configs/train/glm4-9b-lora.yaml", ["scaling.num_workers=40"])
    reasons = unplaceable(nodes["cluster.yaml"], config_bundles(too_many))
    assert len(reasons) == 8 and "more nodes than cluster.yaml allows" in reasons[0]  # 4 nodes x 8 GPUs placed


def _head_start_env():
    """The variables cluster.yaml's head start command exports, and that it starts a head."""
    cluster = yaml.safe_load((REPO / "cluster.yaml").read_text())
    command = next(c for c in cluster["head_start_ray_commands"] if "ray start" in c)
    exports, start = command.split(";", 1)
    assert exports.startswith("export ") and "ray start --head" in start
    env = dict(word.split("=", 1) for word in exports.removeprefix("export ").split())
    worker = next(c for c in cluster["worker_start_ray_commands"] if "ray start" in c)
    assert all(f"{k}={v}" in worker for k, v in env.items() if k.startswith("RAY_AUTH"))  # same on every node
    assert cluster["file_mounts"][env["RAY_AUTH_TOKEN_PATH"]] == "~/.ray/auth_token"
    return env


def test_a_head_started_as_cluster_yaml_does_refuses_a_client_without_the_token(tmp_path):
    from ray_head import RayHead

    env = _head_start_env()
    assert env["RAY_AUTH_MODE"] == "token"
    token_file = tmp_path / "auth_token"
    token_file.write_text("c0ffee" * 8)
    with RayHead(num_cpus=1, env={"RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN_PATH": str(token_file)}) as head:
        url = f"{head.address}/api/jobs/"
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(url, timeout=30)
        assert refused.value.code in (401, 403)
        with pytest.raises(urllib.error.HTTPError) as wrong:
            urllib.request.urlopen(urllib.request.Request(url, headers={"Authorization": "Bearer nope"}), timeout=30)
        assert wrong.value.code in (401, 403)
        ok = urllib.request.urlopen(urllib.request.Request(
            url, headers={"Authorization": f"Bearer {token_file.read_text()}"}), timeout=30)
        assert ok.status == 200
        listed = head.ray("job", "list")
        assert listed.returncode == 0, listed.stderr[-1000:]


def _readme_cluster_commands():
    section = (REPO / "docs" / "cluster.md").read_text(encoding="utf-8")
    block = re.search(r"```bash\n(.*?)```", section, re.DOTALL).group(1)
    return [line for line in block.replace("\\\n", " ").splitlines() if line.strip()]


def test_the_cluster_page_runs_word_for_word_up_to_the_first_cloud_command(tmp_path):
    commands = _readme_cluster_commands()
    first_cloud = next(i for i, c in enumerate(commands) if c.startswith("ray up "))
    assert first_cloud >= 2
    home = tmp_path / "home"
    home.mkdir()
    env = {**os.environ, "HOME": str(home), "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    for command in commands[:first_cloud]:
        result = subprocess.run(["bash", "-euo", "pipefail", "-c", command], cwd=REPO, env=env, capture_output=True,
                                text=True, timeout=120)
        assert result.returncode == 0, (command, result.stderr[-2000:])
    token, api_token = home / ".ray" / "auth_token", home / ".mentalglm" / "api-token"
    assert len(token.read_text().strip()) >= 32 and len(api_token.read_text().strip()) == 64
    assert stat.S_IMODE(api_token.stat().st_mode) & 0o077 == 0  # private
    cluster = yaml.safe_load((REPO / "cluster.yaml").read_text())
    assert {"~/.ray/auth_token", "~/.mentalglm/api-token"} <= set(cluster["file_mounts"].values())
    # every file the later commands name exists
    for command in commands[first_cloud:]:
        for word in command.split():
            if re.fullmatch(r"(configs|ray_jobs|deploy)/[\w./-]+", word):
                assert (REPO / word).exists(), (command, word)


def test_the_data_preparation_job_builds_onto_a_shared_root(tmp_path):
    """What the RayJob and the cluster page's job run first, here from the mirror of training parts."""
    if not (SHARED_DATA / "socialcd3k" / "train.tsv").exists():
        pytest.skip("../shared/data is absent")
    env = {**os.environ, "MENTALGLM_DATA_MIRROR": str(SHARED_DATA), "MENTALGLM_DATA_SPLITS": "[train]",
           "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    root = tmp_path / "shared" / "mentalglm"
    refused = subprocess.run(["bash", "deploy/prepare-data.sh", str(root)], cwd=REPO, env=env, capture_output=True,
                             text=True, timeout=600)  # the shared mirror's cleaned files differ from upstream
    assert refused.returncode == 2 and "allow_modified_mirror" in refused.stderr, refused.stderr[-2000:]
    assert not (root / "data" / "raw").exists()
    env["MENTALGLM_ALLOW_MODIFIED_MIRROR"] = "true"
    for _ in range(2):  # the second run downloads nothing and rebuilds
        result = subprocess.run(["bash", "deploy/prepare-data.sh", str(root)], cwd=REPO, env=env,
                                capture_output=True, text=True, timeout=600)
        assert result.returncode == 0, result.stderr[-3000:]
    assert "0 fetched" in result.stdout
    for name in ("cimhi", "imhi"):
        assert (root / "data" / name / "train.jsonl").stat().st_size > 0
        assert (root / "data" / name / "hf").is_dir()
    from mentalglm.config import load_config
    from mentalglm.config.train import TrainConfig

    train = load_config(TrainConfig, REPO / "configs/train/glm4-9b-lora.yaml")
    assert Path(train.data.dir) == Path("/mnt/shared/mentalglm/data/cimhi")  # where the job reads what it built


def test_the_cluster_pipeline_passes_the_cluster_preflight():
    """configs/pipeline/cluster.yaml: its data is where deploy/prepare-data.sh builds it, and every stage's config
    (the sweep's trials, the evaluation actors, the serving replicas) is placeable on both cluster descriptions and
    passes the runtime capacity check against cluster.yaml."""
    from mentalglm.cluster.capacity import runs_at_once
    from mentalglm.config import PipelineConfig, load_config
    from mentalglm.config.evaluate import EvaluateConfig
    from mentalglm.config.serve import ServeConfig
    from mentalglm.config.tune import TuneConfig
    from mentalglm.cluster.placement import config_bundles, unplaceable

    pipeline = load_config(PipelineConfig, REPO / "configs/pipeline/cluster.yaml")
    assert Path(pipeline.data_dir) == Path("/mnt/shared/mentalglm/data/cimhi")  # prepare-data.sh's cimhi
    assert "data/cimhi" in (REPO / "deploy/prepare-data.sh").read_text()
    stage = [f"model.name_or_path={pipeline.model}", f"data.dir={pipeline.data_dir}"]  # as the pipeline sets them
    tune = load_config(TuneConfig, REPO / pipeline.tune, stage)
    evaluate = load_config(EvaluateConfig, REPO / pipeline.evaluate, stage)
    serve = load_config(ServeConfig, REPO / pipeline.serve, stage)
    for desc in _descriptions().values():
        for cfg in (tune, evaluate, serve):
            assert unplaceable(desc, config_bundles(cfg)) == [], (desc.source, type(cfg).__name__)
    assert tune.ray.cluster is not None and runs_at_once(tune.ray, tune.scaling) >= 1
    assert {Path(c.data.dir) for c in (tune, evaluate, serve)} == {Path(pipeline.data_dir)}
