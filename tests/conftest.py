"""Shared fixtures: the repository paths, the built sample records and the tiny model folders of both families."""

import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from paths import REPO, SHARED_DATA, sample_build_config  # noqa: E402


@pytest.fixture(scope="session")
def sample_data_dir(tmp_path_factory) -> Path:
    """The sample records, built once per session."""
    from mentalglm.data.build import build_dataset

    out = tmp_path_factory.mktemp("sample-data")
    build_dataset(sample_build_config(out))
    return out


@pytest.fixture(scope="session")
def tiny_model_dir(sample_data_dir, tmp_path_factory) -> Path:
    """The tiny GLM-4 model folder, tokenizer trained on the sample train records."""
    from mentalglm.config import ModelInitConfig
    from mentalglm.model.tiny import create_model_folder

    out = tmp_path_factory.mktemp("models") / "tiny-glm4"
    cfg = ModelInitConfig(out_dir=out, preset="tiny",
                          tokenizer={"train_files": [sample_data_dir / "train.jsonl"], "vocab_size": 2000})
    return create_model_folder(cfg)


def make_adapter(model_dir: Path, out: Path) -> Path:
    """A LoRA adapter on `model_dir` with non-zero weights (so merging changes the model), saved in PEFT format
    beside the tokenizer and published, as `mentalglm train` writes `final/`."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from mentalglm.runs.publish import write_manifest

    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_pretrained(model_dir)
    peft = get_peft_model(model, LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"],
                                            init_lora_weights=False, task_type="CAUSAL_LM"))
    peft.save_pretrained(out)
    AutoTokenizer.from_pretrained(model_dir).save_pretrained(out)
    write_manifest(out)  # published, as `mentalglm train` publishes final/
    return out


@pytest.fixture(scope="session")
def tiny_adapter_dir(tiny_model_dir, tmp_path_factory) -> Path:
    """A LoRA adapter on the tiny GLM model (`make_adapter`)."""
    return make_adapter(tiny_model_dir, tmp_path_factory.mktemp("runs") / "tiny-serve" / "final")


@pytest.fixture(scope="session")
def tiny_qwen2_dir(tmp_path_factory) -> Path:
    """The second family: a tiny Qwen2 model with Qwen's real tokenizer and ChatML template."""
    from mentalglm.config import ModelInitConfig
    from mentalglm.model.tiny import create_model_folder

    return create_model_folder(ModelInitConfig(out_dir=tmp_path_factory.mktemp("models") / "tiny-qwen2",
                                               preset="tiny-qwen2"))


@pytest.fixture(scope="session", params=["glm", "qwen2"])
def family(request):
    """(Family, model folder) of each model family in turn: a test using it runs on both."""
    from families import FAMILIES

    folder = request.getfixturevalue("tiny_model_dir" if request.param == "glm" else "tiny_qwen2_dir")
    return FAMILIES[request.param], folder


@pytest.fixture(scope="session")
def family_adapter_dir(request, family, tmp_path_factory) -> Path:
    """A LoRA adapter (`make_adapter`) on the model of `family` (the GLM one is `tiny_adapter_dir`)."""
    if family[0].name == "glm":
        return request.getfixturevalue("tiny_adapter_dir")
    return make_adapter(family[1], tmp_path_factory.mktemp("runs") / f"tiny-{family[0].name}" / "final")


@pytest.fixture
def shared_data() -> Path:
    """../shared/data, or skip when this checkout has none beside it."""
    if not (SHARED_DATA / "socialcd3k" / "train.tsv").exists():
        pytest.skip("../shared/data is absent")
    return SHARED_DATA


@pytest.fixture(scope="module")
def ray_cluster():
    """A local Ray cluster of 2 CPUs started as the project starts one (`mentalglm.cluster.connect.ensure_ray`: no
    dashboard, workers at normal priority), for one test module and stopped after it."""
    import ray

    from mentalglm.config.schema import RaySection
    from mentalglm.cluster.connect import ensure_ray

    assert not ray.is_initialized(), "a previous test module left Ray running"
    ensure_ray(RaySection(num_cpus=2))
    yield ray
    ray.shutdown()
