"""An OpenAI-compatible chat endpoint as config: where it is, what each request carries, how hard to try."""

from __future__ import annotations

import os

from pydantic import Field

from mentalglm.config.loading import ConfigError
from mentalglm.config.schema import Strict


class EndpointSection(Strict):
    """An OpenAI-compatible chat endpoint (vLLM, a Ray Serve app, a hosted API): the teacher of `data explain`, the
    judge of `evaluate --judge`."""

    base_url: str = Field(description="the server root or its /v1, e.g. http://127.0.0.1:8000; requests go to "
                                      "…/v1/chat/completions")
    model: str = Field(description="the `model` of each request; recorded with every explanation")
    api_key_env: str | None = Field(None, description="name of the environment variable holding the API key "
                                                      "(read by the driver, handed to the Ray Data workers; never "
                                                      "logged or written)")
    temperature: float = Field(0.7, ge=0.0, le=2.0, description="sampling temperature; a retried record asks "
                                                                "for a new sample (another seed)")
    max_tokens: int = Field(400, ge=1)
    send_seed: bool = Field(True, description="send `seed` (the sample index) so a retried record gets a new, "
                                              "reproducible sample; false for servers that refuse it (the "
                                              "project's own Ray Serve route)")
    timeout_s: float = Field(60.0, gt=0, description="per request")
    max_retries: int = Field(4, ge=0, description="retries of a request answered 429/5xx, timed out or cut off, "
                                                  "with exponential backoff (Retry-After honoured)")
    backoff_s: float = Field(1.0, gt=0, description="first backoff; doubled per retry, capped at 30 s")
    concurrency: int = Field(4, ge=1, description="requests in flight at once, over all workers")
    qps: float | None = Field(None, gt=0, description="requests per second, over all workers; null: no limit")

    def api_key(self, key: str) -> str | None:
        """The key from the environment variable `api_key_env` names (None when it names none).

        Raises:
            ConfigError: naming `{key}.api_key_env` when that variable is unset or empty.
        """
        if not self.api_key_env:
            return None
        value = os.environ.get(self.api_key_env)
        if not value:
            raise ConfigError(f"{key}.api_key_env: the environment variable {self.api_key_env} is not set")
        return value
