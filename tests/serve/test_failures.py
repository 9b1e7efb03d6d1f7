"""Failures inside a replica, made on purpose in the running replica of a third application (`fragile`): a batch
row that breaks generation fails alone, a stream that breaks midway ends with an error event, streams beyond the
cap get 503 while slow ones run, and a replica whose model breaks fails its health check and is replaced by Serve.

The faults are put into the replica through Ray's `__ray_call__` (run a function inside an actor); reaching the
deployment object from the replica actor uses Serve's private attributes, checked on ray 2.60.
"""

import json
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from conftest import serve_config
from paths import REPO

sys.path.insert(0, str(REPO / "benchmarks"))

from serve_load import serve_actors  # noqa: E402

BAD_SYSTEM = "请把这一行弄坏"  # the system message that marks the request whose row fails


@pytest.fixture(scope="module")
def fragile(served, tiny_model_dir, tiny_adapter_dir, sample_data_dir):
    """The URL of an application with a 1 s health check and batches that wait 0.3 s to fill, even the batch of
    a request that finds the replica idle (`batch_wait_when_idle`: bursts share one batch)."""
    import ray
    from ray import serve

    from mentalglm.serve.service import start_service

    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])  # the replica cannot import this file
    _, _, main_cfg = served
    cfg = serve_config(tiny_model_dir, sample_data_dir, main_cfg.serve.port, app_name="fragile",
                       route_prefix="/fragile", max_new_tokens=8, max_batch_size=4, batch_wait_timeout_s=0.3,
                       batch_wait_when_idle=True, max_ongoing_requests=8, max_concurrent_streams=2,
                       cpus_per_replica=0.5, torch_threads=1, health_check_period_s=1, health_check_timeout_s=10)
    yield start_service(cfg, tiny_adapter_dir)
    if ray.is_initialized():  # after this folder's last test, conftest has stopped Serve and Ray already
        serve.delete("fragile")


def _replicas(app: str) -> list[str]:
    return serve_actors(f"SERVE_REPLICA::{app}#")


def _on_replica(app: str, change) -> None:
    """Run `change(server)` on the MentalGLMServer object of the application's one replica."""
    import ray

    (name,) = _replicas(app)
    actor = ray.get_actor(name, namespace="serve")
    ray.get(actor.__ray_call__.remote(lambda replica: change(replica._replica_impl._user_callable_wrapper._callable)))


class _FailingRows:
    """The replica's model, except that `generate` fails for any batch holding a prompt with the marker's ids."""

    def __init__(self, model, marker: list[int]):
        self.model, self.marker = model, marker

    def __getattr__(self, name):
        return getattr(self.model, name)

    def _marked(self, row: list[int]) -> bool:
        n = len(self.marker)
        return any(row[i:i + n] == self.marker for i in range(len(row) - n + 1))

    def generate(self, input_ids, attention_mask, **kwargs):
        if any(self._marked(row[mask.bool()].tolist()) for row, mask in zip(input_ids, attention_mask)):
            raise RuntimeError("this row breaks generation")
        return self.model.generate(input_ids=input_ids, attention_mask=attention_mask, **kwargs)


class _HookedStreams:
    """The replica's model, except that `hook(n)` runs before the n-th value a streamed generation hands on (the
    prompt is the first)."""

    def __init__(self, model, hook):
        self.model, self.hook = model, hook

    def __getattr__(self, name):
        return getattr(self.model, name)

    def generate(self, streamer=None, **kwargs):
        if streamer is not None:
            put, seen = streamer.put, [0]

            def hooked_put(value):
                seen[0] += 1
                self.hook(seen[0])
                put(value)

            streamer.put = hooked_put
        return self.model.generate(streamer=streamer, **kwargs)


def _fail_after_two_tokens(n: int) -> None:
    if n > 3:
        raise RuntimeError("the device fell over")


def _slow(n: int) -> None:
    time.sleep(0.05)


def _break_rows(server):
    # message contents are tokenised on their own, so the marker's ids appear verbatim in the prompt
    server.engine.model = _FailingRows(server.engine.model, server.engine.encoder.text_ids(BAD_SYSTEM))


def _break_streams(server):
    server.engine.model = _HookedStreams(server.engine.model, _fail_after_two_tokens)


def _restore(server):
    server.engine.model = server.engine.model.model


def test_a_row_that_fails_generation_fails_only_its_own_request(fragile):
    _on_replica("fragile", _break_rows)
    try:
        before = httpx.get(f"{fragile}/healthz").json()["batches"]
        good = [{"messages": [{"role": "user", "content": f"我好累{i}"}], "max_tokens": 4} for i in range(3)]
        bad = {"messages": [{"role": "system", "content": BAD_SYSTEM}, {"role": "user", "content": "我好累"}],
               "max_tokens": 4}
        bodies = [good[0], bad, good[1], good[2]]
        with ThreadPoolExecutor(4) as pool:
            answers = list(pool.map(lambda b: httpx.post(f"{fragile}/v1/chat/completions", json=b, timeout=60),
                                    bodies))
        after = httpx.get(f"{fragile}/healthz").json()["batches"]
    finally:
        _on_replica("fragile", _restore)
    assert [a.status_code for a in answers] == [200, 500, 200, 200], [a.text for a in answers]
    assert answers[1].json()["error"] == {"message": "generation failed for this request (RuntimeError); other "
                                                     "requests were not affected", "type": "server_error",
                                          "code": 500}
    assert after["calls"] - before["calls"] == 1, (before, after)  # the four shared one batch
    assert after["sent_at_once"] == before["sent_at_once"]  # the first of the burst waited for the rest
    assert after["failed_requests"] - before["failed_requests"] == 1
    alone = [httpx.post(f"{fragile}/v1/chat/completions", json=b, timeout=60).json() for b in good]
    assert [a.json()["choices"][0]["message"]["content"] for a in (answers[0], answers[2], answers[3])] == \
        [a["choices"][0]["message"]["content"] for a in alone]


def test_a_stream_that_fails_midway_ends_with_an_error_event_not_stop(fragile):
    _on_replica("fragile", _break_streams)
    try:
        body = {"messages": [{"role": "user", "content": "我好累"}], "max_tokens": 40, "min_tokens": 40,
                "stream": True}
        with httpx.stream("POST", f"{fragile}/v1/chat/completions", json=body, timeout=60) as r:
            assert r.status_code == 200
            events = [line for line in r.iter_lines() if line]
    finally:
        _on_replica("fragile", _restore)
    assert events[-1] == "data: [DONE]"
    payloads = [json.loads(e[6:]) for e in events[:-1]]
    assert payloads[-1] == {"error": {"message": "generation failed (RuntimeError); the answer above is incomplete",
                                      "type": "server_error", "code": 500}}
    chunks = payloads[:-1]
    assert all(c["choices"][0]["finish_reason"] is None for c in chunks)  # never "stop" (nor "length")
    streamed = "".join(c["choices"][0]["delta"].get("content", "") for c in chunks)
    assert sum(1 for c in chunks if c["choices"][0]["delta"].get("content")) <= 2
    whole = httpx.post(f"{fragile}/v1/chat/completions", json={**body, "stream": False}, timeout=60)
    assert whole.status_code == 200  # the replica's slots were given back
    full = whole.json()["choices"][0]["message"]["content"]
    assert full.startswith(streamed) and len(full) > len(streamed)


def test_streams_beyond_the_cap_get_503_and_plain_requests_still_answer(fragile):
    _on_replica("fragile", lambda server: setattr(server.engine, "model", _HookedStreams(server.engine.model, _slow)))
    long = {"messages": [{"role": "user", "content": "我好累"}], "max_tokens": 400, "min_tokens": 400,
            "stream": True}
    client = httpx.Client(timeout=60)
    streams = [client.stream("POST", f"{fragile}/v1/chat/completions", json=long) for _ in range(2)]
    try:
        opened = [s.__enter__() for s in streams]
        assert [r.status_code for r in opened] == [200, 200]
        assert httpx.get(f"{fragile}/healthz").json()["streams"] == {"active": 2, "limit": 2}
        extra = httpx.post(f"{fragile}/v1/chat/completions", json=long, timeout=60)
        assert extra.status_code == 503, extra.text
        assert "serve.max_concurrent_streams" in extra.json()["error"]["message"]
        short = {**long, "stream": False, "max_tokens": 3, "min_tokens": 0}
        plain = httpx.post(f"{fragile}/v1/chat/completions", json=short, timeout=60)
        assert plain.status_code == 200  # non-streamed requests go through the batcher, not the stream slots
    finally:
        for s in streams:
            s.__exit__(None, None, None)
        client.close()
        _on_replica("fragile", _restore)
    deadline = time.monotonic() + 30  # closed streams stop at their next token and give their slot back
    while httpx.get(f"{fragile}/healthz").json()["streams"]["active"] and time.monotonic() < deadline:
        time.sleep(0.2)
    again = httpx.post(f"{fragile}/v1/chat/completions", json={**long, "max_tokens": 3, "min_tokens": 0}, timeout=60)
    assert again.status_code == 200 and again.text.rstrip().endswith("data: [DONE]")


def test_a_replica_whose_model_breaks_fails_its_health_check_and_is_replaced(fragile):
    import torch

    (before,) = _replicas("fragile")

    def corrupt(server):
        with torch.no_grad():
            server.engine.model.get_output_embeddings().weight.fill_(float("nan"))

    _on_replica("fragile", corrupt)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and _replicas("fragile") in ([before], []):
        time.sleep(0.5)
    replaced = _replicas("fragile")
    assert replaced and replaced != [before], "Serve kept the broken replica"
    while time.monotonic() < deadline:
        r = httpx.post(f"{fragile}/v1/chat/completions",
                       json={"messages": [{"role": "user", "content": "你好"}], "max_tokens": 2}, timeout=60)
        if r.status_code == 200:
            break
        time.sleep(0.5)
    assert r.status_code == 200, r.text
