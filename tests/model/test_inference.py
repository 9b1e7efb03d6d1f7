"""The one inference layer: per-request lengths inside one batch, stop reasons, cancelling, streaming, and the
list-of-instructions wrapper evaluation and val F1 use."""

import threading

import pytest

from mentalglm.config import ModelConfig
from mentalglm.model.inference import GenerationEngine, GenerationRequest, StreamStats, generate_responses


@pytest.fixture(scope="module")
def engine(tiny_model_dir, tiny_adapter_dir):
    return GenerationEngine.load(ModelConfig(name_or_path=str(tiny_model_dir), dtype="float32"), tiny_adapter_dir,
                                 threads=1)


def test_one_batch_honours_each_requests_length(engine):
    prompts = [engine.instruction_prompt(f"考虑一下这个帖子：“好累{i}”问题：发帖人的自杀风险是高还是低？") for i in range(3)]
    batch = engine.generate([GenerationRequest(p, n, min_new_tokens=2) for p, n in zip(prompts, (2, 5, 9))])
    alone = [engine.generate([GenerationRequest(p, 9, min_new_tokens=2)])[0] for p in prompts]
    assert [r.completion_tokens for r in batch] <= [2, 5, 9]
    for short, full in zip(batch, alone):
        assert full.text.startswith(short.text)  # greedy: a shorter answer is a prefix of the longer one
        assert short.prompt_tokens == full.prompt_tokens
    forced = engine.generate([GenerationRequest(prompts[0], 6, min_new_tokens=6)])[0]
    assert forced.completion_tokens == 6 and forced.finish_reason == "length"


def test_cancelled_request_stops_early(engine):
    request = GenerationRequest(engine.chat_prompt([{"role": "user", "content": "你好"}]), 400, min_new_tokens=400)
    request.cancel.set()
    (result,) = engine.generate([request])
    assert result.completion_tokens <= 1


def test_stream_pieces_join_to_the_batched_answer(engine):
    prompt = engine.chat_prompt([{"role": "system", "content": "简短回答"}, {"role": "user", "content": "我很难过"}])
    stats = StreamStats()
    streamed = "".join(engine.stream(GenerationRequest(prompt, 10, min_new_tokens=10), stats))
    (plain,) = engine.generate([GenerationRequest(prompt, 10, min_new_tokens=10)])
    assert streamed == plain.text and stats.completion_tokens == 10


def test_stream_stops_when_cancelled(engine):
    request = GenerationRequest(engine.chat_prompt([{"role": "user", "content": "你好"}]), 500, min_new_tokens=500)
    stats = StreamStats()
    pieces = engine.stream(request, stats)
    next(pieces, None)
    request.cancel.set()
    list(pieces)
    assert stats.completion_tokens < 500


def test_generate_responses_answers_in_input_order_whatever_the_batching(engine):
    texts = [f"考虑一下这个帖子：“{'累' * (i * 7 + 1)}”问题：发帖人的自杀风险是高还是低？" for i in range(5)]
    one_by_one = [generate_responses(engine.model, engine.tokenizer, [t], max_new_tokens=6)[0] for t in texts]
    assert generate_responses(engine.model, engine.tokenizer, texts, batch_size=2, max_new_tokens=6) == one_by_one
    expected = [engine.generate([GenerationRequest(engine.instruction_prompt(t), 6)])[0].text for t in texts]
    assert one_by_one == expected
