"""Request and response bodies of the HTTP API (docs/serving.md), as pydantic models.

FastAPI validates requests against these and publishes them in the OpenAPI schema; a body that does not
fit gets 422 with the field named. Numbers and booleans are strict: `"8"` or `true` is not a max_tokens.
"""

from __future__ import annotations

from typing import Literal, Union

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictFloat, StrictInt, field_validator, model_validator
from pydantic_core import PydanticCustomError

from mentalglm.tasks import SCORED_TASKS

TaskId = Literal["cognitive_distortion", "suicide_risk", "suicide_level"]
assert set(TaskId.__args__) == set(SCORED_TASKS)  # type: ignore[attr-defined]


def _encodable(text: str) -> str:
    # JSON may carry lone surrogates (\ud800); they are not text the tokenizer can encode.
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("contains invalid Unicode (a lone surrogate)") from None
    return text


class AnalyzeRequest(BaseModel):
    """`POST /v1/analyze`: a post and the task(s) to run; no task runs all three."""

    model_config = ConfigDict(extra="forbid")

    post: str = Field(min_length=1, description="the social-media post (Chinese)")
    task: Union[str, list[str], None] = Field(None, description="one task id, a list, or none for all three",
                                              examples=["suicide_risk"])

    @field_validator("post")
    @classmethod
    def _post_text(cls, post: str) -> str:
        if not post.strip():
            raise ValueError("post is empty")
        return _encodable(post)

    @field_validator("task")
    @classmethod
    def _known_tasks(cls, task):
        asked = [task] if isinstance(task, str) else (task or [])
        unknown = [t for t in asked if t not in SCORED_TASKS]
        if unknown:
            raise ValueError(f"unknown task {unknown[0]!r}; expected one of {list(SCORED_TASKS)}")
        if task is not None and not asked:
            raise ValueError("task list is empty; leave task out to run all three")
        return task

    def tasks(self) -> list[str]:
        """The tasks to run, in registry order, each once."""
        asked = [self.task] if isinstance(self.task, str) else (self.task or list(SCORED_TASKS))
        return [t for t in SCORED_TASKS if t in asked]


class TaskResult(BaseModel):
    """One task's answer to a post."""

    task: TaskId
    labels: list[str]
    explanation: str | None
    evidence: list[str] = Field(description="quoted spans of the explanation that occur in the post")
    risk_alert: bool = Field(description="高自杀风险, or a suicide level >= 6")
    raw: str
    parse_ok: bool


class AnalyzeResponse(BaseModel):
    results: list[TaskResult]
    model: str
    latency_ms: float


class TextPart(BaseModel):
    model_config = ConfigDict(extra="ignore")

    type: Literal["text"]
    text: str


class ChatMessage(BaseModel):
    """One turn of an OpenAI chat request; content may be a string or a list of text parts."""

    model_config = ConfigDict(extra="ignore")

    role: Literal["system", "user", "assistant"]
    content: Union[str, list[TextPart]]

    def text(self) -> str:
        """The content as one string."""
        return self.content if isinstance(self.content, str) else "".join(p.text for p in self.content)

    @field_validator("content")
    @classmethod
    def _content_text(cls, content):
        _encodable(content if isinstance(content, str) else "".join(p.text for p in content))
        return content


# OpenAI chat fields this server does not implement, and the values that mean "not used" (a client may send
# those). Any other value gets 422 naming the field: a request is answered as asked or refused, never half-honoured.
UNSUPPORTED_CHAT_FIELDS: dict[str, tuple] = {
    "stop": (None, [], ""), "seed": (None,), "tools": (None, []), "tool_choice": (None, "none"),
    "functions": (None, []), "function_call": (None, "none"), "parallel_tool_calls": (None,),
    "logprobs": (None, False), "top_logprobs": (None, 0), "logit_bias": (None, {}),
    "presence_penalty": (None, 0, 0.0), "frequency_penalty": (None, 0, 0.0), "response_format": (None, {"type": "text"}),
    "prediction": (None,), "audio": (None,), "modalities": (None, ["text"]), "reasoning_effort": (None,),
    "web_search_options": (None,), "best_of": (None, 1), "echo": (None, False), "suffix": (None,),
    "store": (None, False), "service_tier": (None, "auto", "default"),
}


class StreamOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")

    include_usage: StrictBool = False


class ChatRequest(BaseModel):
    """`POST /v1/chat/completions`: the OpenAI fields this server honours. The fields it does not implement
    (`stop`, `seed`, `tools`, `logprobs`, penalties, …) are accepted only with their "not used" value, and any
    other field is refused: 422 names it."""

    model_config = ConfigDict(extra="allow")

    model: str | None = None
    messages: list[ChatMessage] = Field(min_length=1)
    max_tokens: StrictInt | None = Field(None, ge=1)
    max_completion_tokens: StrictInt | None = Field(None, ge=1)
    min_tokens: StrictInt = Field(0, ge=0, description="vLLM extension: generate at least this many tokens "
                                  "(at most max_tokens)")
    temperature: StrictFloat = Field(0.0, ge=0.0, le=2.0, description="below 1e-5: greedy")
    top_p: StrictFloat = Field(1.0, gt=0.0, le=1.0)
    n: StrictInt = Field(1, ge=1, le=1, description="one choice per request")
    stream: StrictBool = False
    stream_options: StreamOptions | None = Field(None, description="include_usage: a last chunk with the usage")
    user: str | None = Field(None, description="the caller's own id for its logs; not used or stored here")
    metadata: dict[str, str] | None = Field(None, description="accepted and not stored")
    return_token_ids: StrictBool = Field(False, description="vLLM extension: also return the prompt's token ids "
                                                      "(`prompt_token_ids`), e.g. to audit what the model read")

    @model_validator(mode="after")
    def _nothing_ignored(self) -> "ChatRequest":
        for name, value in (self.model_extra or {}).items():
            if name not in UNSUPPORTED_CHAT_FIELDS:
                raise PydanticCustomError("unknown_field", "{name}: not a chat completion field this server knows",
                                          {"name": name})
            if value not in UNSUPPORTED_CHAT_FIELDS[name]:
                raise PydanticCustomError("unsupported_field", "{name}: not supported by this server (leave it "
                                          "out)", {"name": name})
        return self

    def include_usage(self) -> bool:
        """Whether a streamed answer ends with a usage chunk."""
        return self.stream_options is not None and self.stream_options.include_usage


class ErrorBody(BaseModel):
    message: str
    type: str
    code: int


class ErrorResponse(BaseModel):
    """Every error: `{"error": {"message", "type", "code"}}`, as OpenAI clients expect."""

    error: ErrorBody
