"""Start, stop and describe the MentalGLM Serve application (`mentalglm serve`, `serve deploy`, the pipeline).

`build_app` turns a ServeConfig into a Serve application; `start_service` runs it on a Ray cluster (local or
not) and returns its URL; `app_builder` is the import path a Serve config file names for `serve deploy`.
"""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path
from typing import Any

from mentalglm.runs import storage
from mentalglm.config import ConfigError, load_config
from mentalglm.config.serve import ServeConfig

log = logging.getLogger(__name__)


def resolve_checkpoint(cfg: ServeConfig, checkpoint: str | Path | None) -> str | None:
    """The adapter to serve (a folder, made absolute, or an object-store URI): `checkpoint` (the --checkpoint
    flag) or `serve.checkpoint`; None serves the base model.

    Raises:
        ConfigError: the location holds no complete, published adapter (the message names the file).
    """
    from mentalglm.runs.publish import AdapterError, check_adapter

    location = str(checkpoint) if checkpoint else cfg.serve.checkpoint
    if location is None:
        return None
    try:
        check_adapter(location)  # a URI's manifest only: the replicas fetch and verify every file
    except AdapterError as exc:
        raise ConfigError(f"serve.checkpoint: {exc}; train one with `mentalglm train` or pass --checkpoint "
                          "runs/NAME/final") from None
    return location if storage.is_uri(location) else str(Path(location).resolve())


def model_id(cfg: ServeConfig, checkpoint: str | None) -> str:
    """The id /v1/models lists: `serve.model_id`, else `mentalglm-<run name>` (for runs/NAME/final or
    …/best), else the base model's folder name."""
    if cfg.serve.model_id:
        return cfg.serve.model_id
    if checkpoint is not None:
        parts = [p for p in str(checkpoint).rstrip("/").split("/") if p]
        return "mentalglm-" + (parts[-2] if parts[-1] in ("final", "best") and len(parts) > 1 else parts[-1])
    return Path(cfg.model.name_or_path).name


def deployment_options(cfg: ServeConfig) -> dict[str, Any]:
    """Serve deployment options from `serve.*`: replicas or autoscaling, request limits, resources."""
    s = cfg.serve
    # never the token: runtime_env is part of the deployment config the dashboard shows (mentalglm.serve.auth)
    env = {k: os.environ[k] for k in ("HF_HUB_OFFLINE",) if os.environ.get(k)}
    options: dict[str, Any] = {
        "max_ongoing_requests": s.max_ongoing_requests, "max_queued_requests": s.max_queued_requests,
        "health_check_period_s": s.health_check_period_s, "health_check_timeout_s": s.health_check_timeout_s,
        "graceful_shutdown_timeout_s": s.shutdown_grace_s, "graceful_shutdown_wait_loop_s": 0.5,
        "ray_actor_options": {"num_cpus": s.cpus_per_replica, "num_gpus": s.gpus_per_replica,
                              "runtime_env": {"env_vars": env}},
    }
    if s.accelerator_type:
        options["ray_actor_options"]["accelerator_type"] = s.accelerator_type
    if s.autoscaling is not None:
        a = s.autoscaling
        options["autoscaling_config"] = {
            "min_replicas": a.min_replicas, "max_replicas": a.max_replicas,
            "target_ongoing_requests": a.target_ongoing_requests,
            "upscale_delay_s": a.upscale_delay_s, "downscale_delay_s": a.downscale_delay_s,
            "look_back_period_s": a.look_back_period_s}
    else:
        options["num_replicas"] = s.num_replicas
    return options


def build_app(cfg: ServeConfig, checkpoint: str | Path | None = None):
    """The Serve application for `cfg`: the transformers deployment, or `ray.serve.llm` with `serve.backend:
    vllm`.

    Raises:
        ConfigError: bad checkpoint, vLLM missing for the vllm backend, or a non-loopback `serve.host` with no
            token (see `mentalglm.serve.auth.check_exposure`).
    """
    from mentalglm.serve.auth import serving_token

    serving_token(cfg.serve)
    adapter = resolve_checkpoint(cfg, checkpoint)
    if cfg.serve.backend == "vllm":
        from mentalglm.serve.vllm_backend import build_vllm_app

        return build_vllm_app(cfg, adapter, model_id(cfg, adapter))
    from mentalglm.serve.app import MentalGLMServer

    return MentalGLMServer.options(**deployment_options(cfg)).bind(
        cfg.model_dump(mode="json"), adapter, model_id(cfg, adapter))


def app_builder(args: dict[str, Any]):
    """Serve's application builder for `serve deploy` / `serve run`: `args` holds `config` (a serve YAML),
    optional `checkpoint` and `overrides` (a list of key=value)."""
    if "config" not in args:
        raise ConfigError("serve config file: application args need `config: configs/serve/<name>.yaml`")
    cfg = load_config(ServeConfig, args["config"], list(args.get("overrides", [])))
    return build_app(cfg, args.get("checkpoint"))


def url_of(cfg: ServeConfig) -> str:
    """The base URL the application answers at."""
    host = "127.0.0.1" if cfg.serve.host in ("0.0.0.0", "::") else cfg.serve.host
    return f"http://{host}:{cfg.serve.port}{cfg.serve.route_prefix.rstrip('/')}"


def start_service(cfg: ServeConfig, checkpoint: str | Path | None = None, timeout_s: float = 300) -> str:
    """Run the application on Ray (connecting or starting a local cluster) and return its URL once
    `/healthz` answers.

    Raises:
        ConfigError: bad checkpoint, or the replicas do not fit the cluster.
        TimeoutError: the application did not become healthy within `timeout_s`.
    """
    from ray import serve

    from mentalglm.cluster.capacity import check_capacity
    from mentalglm.cluster.connect import ensure_ray
    from mentalglm.serve.guard import proxy_env

    s = cfg.serve
    app = build_app(cfg, checkpoint)  # every check that needs no cluster (token, adapter) before Ray starts
    # Against cluster.yaml the most replicas must fit (the autoscaler adds nodes), checked before connecting to
    # anything; against the live cluster, the replicas that start now.
    bound = "max_replicas" if cfg.ray.cluster is not None else "min_replicas"
    replicas, key = ((getattr(s.autoscaling, bound), f"serve.autoscaling.{bound}") if s.autoscaling
                     else (s.num_replicas, "serve.num_replicas"))
    check_capacity(cfg.ray, replicas, s.cpus_per_replica, s.gpus_per_replica, s.accelerator_type, key=key,
                   unit="replicas")
    ensure_ray(cfg.ray)
    # the proxies read bodies before any replica does: they get the body limit too (mentalglm.serve.guard)
    serve.start(http_options={"host": s.host, "port": s.port, "request_timeout_s": s.request_timeout_s + 30},
                controller_options={"runtime_env": {"env_vars": proxy_env(s.max_body_bytes, s.max_header_bytes)}})
    serve.run(app, name=s.app_name, route_prefix=s.route_prefix, blocking=False)
    url = url_of(cfg)
    _wait_healthy(url + "/healthz", timeout_s)
    log.info("%s is serving at %s", s.app_name, url)
    return url


def _wait_healthy(url: str, timeout_s: float) -> None:
    import urllib.error
    import urllib.request

    deadline = time.monotonic() + timeout_s
    while True:
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        if time.monotonic() > deadline:
            raise TimeoutError(f"{url} did not answer within {timeout_s:g} s")
        time.sleep(0.5)


def stop_service(app_name: str = "mentalglm") -> None:
    """Delete the application (its replicas stop); Serve itself keeps running for other applications."""
    from ray import serve

    serve.delete(app_name)


def wait_then_stop(app_name: str = "mentalglm") -> None:
    """Block until Ctrl-C (or SIGTERM, under `mentalglm.cluster.signals.sigterm_as_interrupt`), then delete the
    application: it takes no new requests, and those in flight finish within `serve.shutdown_grace_s` (`mentalglm
    serve` without --detach)."""
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        stop_service(app_name)
