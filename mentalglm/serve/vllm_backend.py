"""The GPU path: serve the merged checkpoint with vLLM through `ray.serve.llm` (`serve.backend: vllm`).

vLLM loads plain model folders, so the LoRA adapter is first merged into the base weights and saved beside
the adapter (`export_merged`). The resulting application speaks the OpenAI API (`/v1/chat/completions`,
`/v1/models`); `/v1/analyze` and the analyst page stay with the transformers backend. Its ingress sits behind the
same `RequestGuard` as the transformers deployment (token, body size), with the token read on the replica's node.
Needs `pip install 'ray[llm]'` and a GPU, so CI never runs it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mentalglm.config import ConfigError
from mentalglm.config.serve import ServeConfig

MERGED_SOURCE = "mentalglm_merged_from.json"  # which adapter (by manifest hash) a merged folder holds


def export_merged(cfg: ServeConfig, adapter: str | Path, out_dir: Path | None = None) -> Path:
    """Merge `adapter` (a folder or URI) into the base model and save model + tokenizer to `out_dir` (default:
    `serve.vllm.merged_dir`, else `{adapter}-merged` beside a local adapter), atomically; an existing export
    is reused only when it was merged from this very adapter (same manifest), else merged again. On a cluster,
    point merged_dir at shared storage so every GPU worker can load it.

    Raises:
        ModelLoadError: the base model cannot be loaded.
    """
    import json

    from mentalglm.runs.files import write_dir_atomic
    from mentalglm.model.inference import load_for_generation
    from mentalglm.runs.publish import read_manifest, resolve_adapter

    local = resolve_adapter(adapter)
    source = {"adapter": str(adapter), "adapter_manifest_sha256": read_manifest(local)[1]}
    out = Path(out_dir or cfg.serve.vllm.merged_dir or local.parent / f"{local.name}-merged")
    try:
        if json.loads((out / MERGED_SOURCE).read_text(encoding="utf-8")) == source:
            return out
    except (OSError, ValueError):
        pass
    model, tokenizer = load_for_generation(cfg.model, local, merge=True)

    def write(tmp: Path) -> None:
        model.save_pretrained(tmp, safe_serialization=True)
        tokenizer.save_pretrained(tmp)
        (tmp / MERGED_SOURCE).write_text(json.dumps(source), encoding="utf-8")

    write_dir_atomic(out, write)
    return out


def llm_config(cfg: ServeConfig, model_source: str, served_id: str) -> dict[str, Any]:
    """The `ray.serve.llm.LLMConfig` fields for this config, as a dict (also what a Serve config file for
    `ray.serve.llm:build_openai_app` holds under `llm_configs`)."""
    s, v = cfg.serve, cfg.serve.vllm
    deployment: dict[str, Any] = {"max_ongoing_requests": s.max_ongoing_requests}
    if s.autoscaling is not None:
        deployment["autoscaling_config"] = {"min_replicas": s.autoscaling.min_replicas,
                                            "max_replicas": s.autoscaling.max_replicas,
                                            "target_ongoing_requests": s.autoscaling.target_ongoing_requests}
    else:
        deployment["num_replicas"] = s.num_replicas
    out: dict[str, Any] = {
        "model_loading_config": {"model_id": served_id, "model_source": model_source},
        "deployment_config": deployment,
        "engine_kwargs": {"tensor_parallel_size": v.tensor_parallel_size, "max_model_len": v.max_model_len,
                          "gpu_memory_utilization": v.gpu_memory_utilization,
                          "trust_remote_code": cfg.model.trust_remote_code},
    }
    if s.accelerator_type:
        out["accelerator_type"] = s.accelerator_type
    return out


def build_vllm_app(cfg: ServeConfig, adapter: str | None, served_id: str):
    """The `ray.serve.llm` OpenAI application over the merged checkpoint (or the base model).

    Raises:
        ConfigError: naming serve.backend when vLLM (ray[llm]) is not installed.
    """
    import importlib.util

    # ray.serve.llm itself imports without vLLM and fails only when a config is built: check before merging
    if importlib.util.find_spec("vllm") is None:
        raise ConfigError("serve.backend: vllm needs vLLM on a GPU node (`pip install 'ray[llm]'`); "
                          "use serve.backend=transformers on CPU")
    from ray.serve.llm import LLMConfig, build_openai_app

    source = str(export_merged(cfg, adapter)) if adapter is not None else cfg.model.name_or_path
    return build_openai_app({"llm_configs": [LLMConfig(**llm_config(cfg, source, served_id))],
                             "ingress_cls_config": {"ingress_cls": guarded_ingress_class(), "ingress_extra_kwargs": {
                                 "mentalglm_serve": cfg.serve.model_dump(mode="json")}}})


def guarded_ingress_class() -> type:
    """`ray.serve.llm`'s OpenAI ingress with MentalGLM's `RequestGuard` in front of its routes."""
    from ray.serve.llm.ingress import OpenAiIngress

    from mentalglm.config.serve import ServeSection
    from mentalglm.serve.auth import serving_token
    from mentalglm.serve.guard import RequestGuard

    class GuardedOpenAiIngress(OpenAiIngress):
        def __init__(self, *args: Any, mentalglm_serve: dict[str, Any], **kwargs: Any):
            super().__init__(*args, **kwargs)
            self._mentalglm_serve = ServeSection.model_validate(mentalglm_serve)
            self._mentalglm_token = serving_token(self._mentalglm_serve)  # read on this replica's node

        def __serve_build_asgi_app__(self):
            # Serve calls this on the replica after __init__ and serves what it returns instead of the app
            return RequestGuard.for_settings(self.app, self._mentalglm_token, self._mentalglm_serve)

    return GuardedOpenAiIngress
