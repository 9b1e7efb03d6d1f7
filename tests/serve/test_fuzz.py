"""Bounded fuzzing of the HTTP API: 600 generated requests (shapes from the OpenAPI schema, broken on purpose,
streamed chats among them), none of which may get a 5xx, nor a stream end in a 5xx error event."""

import json

import httpx
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mentalglm.tasks import SCORED_TASKS

TEXT = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=40)
WILD = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | TEXT,
                    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(TEXT, inner, max_size=3),
                    max_leaves=8)
TASK = st.sampled_from([*SCORED_TASKS, "depression", "", None]) | st.lists(st.sampled_from(SCORED_TASKS), max_size=4)
ANALYZE = st.fixed_dictionaries({"post": TEXT | st.integers() | st.none()},
                                optional={"task": TASK | WILD, "extra": WILD})
MESSAGE = st.fixed_dictionaries({"role": st.sampled_from(["user", "system", "assistant", "tool", ""]),
                                 "content": TEXT | st.lists(st.fixed_dictionaries({"type": st.just("text"),
                                                                                    "text": TEXT}), max_size=2)
                                 | WILD})
CHAT = st.fixed_dictionaries({"messages": st.lists(MESSAGE, max_size=3) | WILD}, optional={
    "max_tokens": st.integers(-2, 8) | st.integers(10**6, 10**9) | WILD, "temperature": st.floats(-1, 3) | WILD,
    "top_p": st.floats(-0.5, 1.5) | WILD, "stream": st.booleans(), "n": st.integers(-1, 3), "model": TEXT,
    "min_tokens": st.integers(-3, 4), "stop": st.none() | TEXT, "seed": st.none() | st.integers(),
    "stream_options": st.none() | st.fixed_dictionaries({"include_usage": st.booleans()}) | WILD})
BODY = (st.tuples(st.just("/v1/analyze"), ANALYZE | WILD) | st.tuples(st.just("/v1/chat/completions"), CHAT | WILD))
RAW = st.binary(max_size=60) | st.sampled_from([b"{", b"[]", b"null", b'{"post": "\\ud800"}', b"\xef\xbb\xbf{}"])


def _check(response: httpx.Response) -> None:
    assert response.status_code < 500, (response.status_code, response.text[:300])
    kind = response.headers.get("content-type", "")
    if kind.startswith("application/json"):
        response.json()
    if kind.startswith("text/event-stream"):
        events = [json.loads(line[6:]) for line in response.text.splitlines() if line.startswith("data: {")]
        errors = [e["error"] for e in events if "error" in e]
        assert not errors and response.text.rstrip().endswith("data: [DONE]"), response.text[-300:]


@settings(max_examples=450, deadline=None, suppress_health_check=list(HealthCheck), database=None)
@given(BODY)
def test_json_bodies_never_get_5xx(served, auth, route_and_body):
    main, _, _ = served
    route, body = route_and_body
    _check(httpx.post(main + route, content=json.dumps(body), timeout=60,
                      headers={**auth, "Content-Type": "application/json"}))


@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck), database=None)
@given(st.sampled_from(["/v1/analyze", "/v1/chat/completions", "/v1/models", "/healthz", "/", "/v1/nope"]),
       st.sampled_from(["GET", "POST", "PUT", "DELETE"]), RAW,
       st.sampled_from(["application/json", "text/plain", "application/x-www-form-urlencoded", ""]),
       st.sampled_from(["Bearer test-token-0123", "Bearer x", "", "Bearer"]))
def test_raw_requests_never_get_5xx(served, path, method, raw, content_type, authorization):
    main, _, _ = served
    headers = {k: v for k, v in {"Content-Type": content_type, "Authorization": authorization}.items() if v}
    _check(httpx.request(method, main + path, content=raw, headers=headers, timeout=60))
