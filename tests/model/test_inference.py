"""The one inference layer, on both model families: per-request lengths inside one batch, stop reasons, cancelling, streaming, failure
isolation, the health probe, and the list-of-instructions wrapper evaluation and val F1 use."""

import pytest

from mentalglm.config import ModelConfig
from mentalglm.model.inference import (GenerationEngine, GenerationRequest, GenerationResult, UnhealthyModel,
                                       generate_responses)


@pytest.fixture(scope="module")
def engine(family, family_adapter_dir):
    return GenerationEngine.load(ModelConfig(name_or_path=str(family[1]), dtype="float32"), family_adapter_dir,
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


def test_streamed_tokens_give_the_batched_answer(engine):
    prompt = engine.chat_prompt([{"role": "system", "content": "简短回答"}, {"role": "user", "content": "我很难过"}])
    tokens: list[int] = []
    streamed = engine.stream_tokens(GenerationRequest(prompt, 10, min_new_tokens=10), tokens.append)
    (plain,) = engine.generate([GenerationRequest(prompt, 10, min_new_tokens=10)])
    assert streamed == plain and plain.completion_tokens == 10
    assert engine.decode_answer(engine.answer_tokens(tokens, 10)) == plain.text


def test_stream_stops_when_cancelled(engine):
    request = GenerationRequest(engine.chat_prompt([{"role": "user", "content": "你好"}]), 500, min_new_tokens=500)
    tokens: list[int] = []

    def cancel_after_three(token: int) -> None:
        tokens.append(token)
        if len(tokens) == 3:
            request.cancel.set()

    result = engine.stream_tokens(request, cancel_after_three)
    assert len(tokens) <= 4 and result.completion_tokens == len(tokens) and result.finish_reason == "length"


def test_a_temperature_below_1e_5_is_greedy_not_a_sampler_crash(engine):
    prompt = engine.instruction_prompt("考虑一下这个帖子：“好累”问题：发帖人的自杀风险是高还是低？")
    (greedy,) = engine.generate([GenerationRequest(prompt, 6)])
    (tiny,) = engine.generate([GenerationRequest(prompt, 6, temperature=1e-300)])
    assert tiny == greedy


class _FailsOn:
    """Wraps the model so that `generate` fails whenever a batch holds a prompt starting with `marker`."""

    def __init__(self, model, marker: list[int]):
        self.model, self.marker, self.calls = model, marker, []

    def __getattr__(self, name):
        return getattr(self.model, name)

    def generate(self, input_ids, attention_mask, **kwargs):
        rows = [row[mask.bool()].tolist() for row, mask in zip(input_ids, attention_mask)]
        self.calls.append(len(rows))
        if any(row[:len(self.marker)] == self.marker for row in rows):
            raise RuntimeError("this row breaks generation")
        return self.model.generate(input_ids=input_ids, attention_mask=attention_mask, **kwargs)


def test_a_failing_row_fails_alone(engine):
    prompts = [engine.instruction_prompt(f"考虑一下这个帖子：“好累{i}”问题：发帖人的自杀风险是高还是低？") for i in range(4)]
    requests = [GenerationRequest(p, 5) for p in prompts]
    expected = engine.generate(requests)
    bad = engine.chat_prompt([{"role": "system", "content": "坏"}, {"role": "user", "content": "好"}])
    broken = GenerationEngine(_FailsOn(engine.model, list(bad)), engine.tokenizer)
    answers = broken.generate_isolated([*requests[:2], GenerationRequest(bad, 5), *requests[2:]])
    assert answers[:2] + answers[3:] == expected
    assert isinstance(answers[2], RuntimeError) and str(answers[2]) == "this row breaks generation"
    assert broken.model.calls == [5, 1, 1, 1, 1, 1]  # the batch, then each row alone
    (lone,) = broken.generate_isolated([GenerationRequest(bad, 5)])
    assert isinstance(lone, RuntimeError) and broken.model.calls[6:] == [1]  # a lone failure is not run twice
    with pytest.raises(RuntimeError):
        broken.generate([GenerationRequest(bad, 5)])  # evaluation's path: a failure is never swallowed
    assert all(isinstance(a, GenerationResult) for a in broken.generate_isolated(requests))


def test_probe_passes_on_a_sound_model_and_fails_on_nan_weights(engine, tiny_model_dir):
    import torch

    engine.probe()
    fresh = GenerationEngine.load(ModelConfig(name_or_path=str(tiny_model_dir), dtype="float32"), None, threads=1)
    with torch.no_grad():
        fresh.model.get_output_embeddings().weight.fill_(float("nan"))
    with pytest.raises(UnhealthyModel, match="not finite"):
        fresh.probe()


def test_generate_responses_answers_in_input_order_whatever_the_batching(engine):
    texts = [f"考虑一下这个帖子：“{'累' * (i * 7 + 1)}”问题：发帖人的自杀风险是高还是低？" for i in range(5)]
    one_by_one = [generate_responses(engine.model, engine.tokenizer, [t], max_new_tokens=6)[0] for t in texts]
    assert generate_responses(engine.model, engine.tokenizer, texts, batch_size=2, max_new_tokens=6) == one_by_one
    expected = [engine.generate([GenerationRequest(engine.instruction_prompt(t), 6)])[0].text for t in texts]
    assert one_by_one == expected
