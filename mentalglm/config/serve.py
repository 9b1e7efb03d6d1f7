"""Config of `mentalglm serve`: the Ray Serve application, its batching, limits and replicas."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator

from mentalglm.config.schema import RaySection, RunConfig, Strict


class AutoscalingSection(Strict):
    """Ray Serve autoscaling of the model deployment (replaces `serve.num_replicas`).

    Example: `{min_replicas: 1, max_replicas: 4, target_ongoing_requests: 8}`.
    """

    min_replicas: int = Field(1, ge=0)
    max_replicas: int = Field(1, ge=1)
    target_ongoing_requests: float = Field(4.0, gt=0, description="requests per replica the autoscaler aims at")
    upscale_delay_s: float = Field(30.0, ge=0)
    downscale_delay_s: float = Field(600.0, ge=0)
    look_back_period_s: float = Field(30.0, gt=0, description="the window the replicas' load is averaged over")

    @model_validator(mode="after")
    def _ordered(self) -> "AutoscalingSection":
        if self.min_replicas > self.max_replicas:
            raise ValueError(f"min_replicas {self.min_replicas} > max_replicas {self.max_replicas}")
        return self


class VllmSection(Strict):
    """The GPU path (`serve.backend: vllm`): `ray.serve.llm` serving a merged checkpoint with vLLM."""

    merged_dir: Path | None = Field(None, description="where the merged model is written (default: "
                                    "{checkpoint}-merged); vLLM loads it as a plain model")
    tensor_parallel_size: int = Field(1, ge=1)
    max_model_len: int = Field(4096, ge=128)
    gpu_memory_utilization: float = Field(0.9, gt=0, le=1)


class ServeSection(Strict):
    """The service: where it listens, how it batches, what it refuses, how many replicas answer."""

    checkpoint: str | None = Field(None, description="PEFT adapter folder or URI (--checkpoint); None: the "
                                   "base model")
    zero_shot: bool | None = Field(None, description="/v1/analyze appends each task's labels and answer sentence to "
                                   "the instruction; None: when no adapter is served (chat requests are sent as "
                                   "written)")
    detach: bool = Field(False, description="deploy and return, leaving the app on the (non-local) Ray cluster "
                         "(--detach; a Ray job always detaches)")
    model_id: str | None = Field(None, description="the id /v1/models lists (default: mentalglm-<run name>)")
    app_name: str = Field("mentalglm", pattern=r"^[A-Za-z0-9_.-]+$")
    route_prefix: str = Field("/", pattern=r"^/")
    host: str = Field("127.0.0.1", description="bind address; 0.0.0.0 exposes the service beyond this host, and "
                      "then a token is required (see allow_unauthenticated)")
    token_file: str | None = Field(None, description="file holding the bearer token /v1/ requires (e.g. a mounted "
                                   "Kubernetes secret), readable on every node; else MENTALGLM_API_TOKEN in the "
                                   "environment of the Ray nodes. Surrounding whitespace is ignored")
    allow_unauthenticated: bool = Field(False, description="serve without a token on a non-loopback address "
                                        "(warned at start); leave false behind anything but an authenticating "
                                        "proxy")
    port: int = Field(8000, ge=1, le=65535)
    backend: Literal["transformers", "vllm"] = Field("transformers", description="vllm: GPU only, see VllmSection")
    merge_adapter: bool = Field(True, description="merge LoRA into the weights at load (faster answers)")
    max_batch_size: int = Field(8, ge=1, description="dynamic batching: most requests per generate call; 1 = off")
    batch_wait_timeout_s: float = Field(0.05, ge=0, description="longest a free model waits for the requests it "
                                        "expects (the clients of the batch that just ended, plus those waiting); "
                                        "it goes as soon as they are there. Requests that arrive while a batch "
                                        "runs are taken together when it ends")
    batch_wait_when_idle: bool = Field(False, description="true: a request that finds the replica idle also waits "
                                       "batch_wait_timeout_s for company (suits bursty traffic, where the first "
                                       "request of a burst should wait for the rest); false: it runs at once, so "
                                       "batching costs nothing at low load")
    max_new_tokens: int = Field(160, ge=1, description="answer length when a request names none")
    max_tokens_limit: int = Field(512, ge=1, description="largest max_tokens a request may ask for")
    max_post_chars: int = Field(2000, ge=1, description="longer posts get 413")
    max_prompt_tokens: int = Field(4096, ge=16, description="longer chat prompts get 413")
    request_timeout_s: float = Field(60.0, gt=0, description="a request still generating after this gets 504")
    max_body_bytes: int = Field(1024 * 1024, ge=1024, description="larger request bodies get 413, before they "
                                "are read whole")
    max_header_bytes: int = Field(32 * 1024, ge=1024, description="requests whose request line and headers are "
                                  "larger get 431, in the HTTP proxy, before the token is checked")
    allowed_hosts: list[str] = Field([], description="DNS names (or *.domain) clients use when serve.host is "
                                     "beyond loopback; a request naming another Host gets 400 (IP addresses and "
                                     "loopback names always pass; [\"*\"] turns the check off)")
    max_concurrent_streams: int = Field(4, ge=1, description="streamed answers one replica generates at once "
                                        "(each its own generate call, within max_ongoing_requests); beyond this: 503")
    shutdown_grace_s: float = Field(30.0, gt=0, description="on Ctrl-C or SIGTERM, the app stops taking requests "
                                    "and those in flight get this long to finish before its replicas are stopped")
    health_check_period_s: float = Field(10.0, gt=0, description="how often Serve checks a replica; the check "
                                         "runs a one-token generation unless a batch succeeded within the period")
    health_check_timeout_s: float = Field(30.0, gt=0, description="a check slower than this fails the replica")
    max_ongoing_requests: int = Field(16, ge=1, description="requests one replica works on at once")
    max_queued_requests: int = Field(64, ge=1, description="requests waiting for a replica; beyond this: 503")
    num_replicas: int = Field(1, ge=1, description="fixed replica count when `autoscaling` is not set")
    autoscaling: AutoscalingSection | None = None
    cpus_per_replica: float = Field(1.0, ge=0)
    gpus_per_replica: float = Field(0.0, ge=0)
    accelerator_type: str | None = Field(None, description="GPU type a replica needs, e.g. A100")
    torch_threads: int | None = Field(None, ge=1, description="default: cpus_per_replica, at least 1")
    vllm: VllmSection = VllmSection()

    @model_validator(mode="after")
    def _limits_agree(self) -> "ServeSection":
        if self.max_new_tokens > self.max_tokens_limit:
            raise ValueError(f"max_new_tokens {self.max_new_tokens} > max_tokens_limit {self.max_tokens_limit}")
        if self.max_batch_size > self.max_ongoing_requests:
            raise ValueError(f"max_batch_size {self.max_batch_size} > max_ongoing_requests "
                             f"{self.max_ongoing_requests}: a replica could never fill a batch")
        return self


class ServeConfig(RunConfig):
    """`mentalglm serve CONFIG serve.checkpoint=PATH`."""

    serve: ServeSection = ServeSection()
    ray: RaySection = RaySection()
