"""Tokenisation for training, on both model families: loss on the response only, truncation rules, length-grouped
batches."""

import pytest

from mentalglm.data.batching import collate, length_grouped_batches, padding_share, shard_batches
from mentalglm.data.records import Record, load_split
from mentalglm.data.tokenization import IGNORE_INDEX, SequenceTooLongError, encode_example
from mentalglm.model.chat_format import render_prompt
from mentalglm.tasks import render_instruction, render_response


@pytest.fixture(scope="module")
def tok(family):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(family[1])


def _record(post: str, level: str = "8", explanation: str | None = "“药已经攒好了”表明计划具体。") -> Record:
    return Record("t-train-000001", "suicide_level", "t", "train", post, [level], explanation,
                  render_instruction("suicide_level", post), render_response("suicide_level", [level], explanation))


def test_loss_bearing_tokens_decode_to_exactly_the_response(tok, family, sample_data_dir):
    for record in load_split(sample_data_dir, "train"):
        ex = encode_example(record, tok, max_seq_len=512)
        target = [t for t, lab in zip(ex.input_ids, ex.labels) if lab != IGNORE_INDEX]
        assert tok.decode(target, skip_special_tokens=True) == record.response
        assert target[-1] == tok.eos_token_id
        prompt_len = ex.labels.index(next(lab for lab in ex.labels if lab != IGNORE_INDEX))
        assert tok.decode(ex.input_ids[:prompt_len]) == render_prompt(tok, record.instruction)
        assert tok.decode(ex.input_ids[:prompt_len]).startswith(family[0].prompt_start + "考虑一下这个帖子：“")


def test_long_post_is_shortened_and_label_kept(tok, family):
    record = _record("我真的好痛苦，" * 200)
    full = encode_example(record, tok, max_seq_len=4096)
    ex = encode_example(record, tok, max_seq_len=120)
    assert len(full) > 120 and len(ex) <= 120
    assert ex.post_truncated and not ex.response_truncated
    target = tok.decode([t for t, lab in zip(ex.input_ids, ex.labels) if lab != IGNORE_INDEX],
                        skip_special_tokens=True)
    assert target == record.response
    prompt = tok.decode([t for t, lab in zip(ex.input_ids, ex.labels) if lab == IGNORE_INDEX])
    assert prompt.endswith("”问题：发帖人的自杀风险处于0到10级中的哪一级？" + family[0].prompt_end)


def test_long_explanation_is_cut_after_the_label_sentence(tok):
    record = _record("好累。", explanation="解释很长。" * 300)
    ex = encode_example(record, tok, max_seq_len=100, min_post_chars=16)
    assert len(ex) == 100 and ex.response_truncated and not ex.post_truncated
    target = tok.decode([t for t, lab in zip(ex.input_ids, ex.labels) if lab != IGNORE_INDEX])
    assert target.startswith("发帖人的自杀风险为8级。理由：解释很长。")
    assert tok.eos_token not in target


def test_impossible_length_is_an_error_naming_the_record(tok):
    with pytest.raises(SequenceTooLongError, match="t-train-000001.*max_seq_len=28"):
        encode_example(_record("好累" * 100), tok, max_seq_len=28)


def test_length_grouping_cuts_padding_and_shards_evenly():
    lengths = [10 + (i * 37) % 300 for i in range(1000)]
    grouped = length_grouped_batches(lengths, batch_size=8, seed=0)
    plain = length_grouped_batches(lengths, batch_size=8, seed=0, group_factor=1)
    assert sorted(i for b in grouped for i in b) == list(range(1000))
    assert padding_share(lengths, grouped) < 0.05 < padding_share(lengths, plain)
    assert grouped == length_grouped_batches(lengths, batch_size=8, seed=0)
    assert grouped != length_grouped_batches(lengths, batch_size=8, seed=0, epoch=1)
    shards = [shard_batches(grouped, r, 3) for r in range(3)]
    assert len({len(s) for s in shards}) == 1
    assert not set(map(tuple, shards[0])) & set(map(tuple, shards[1]))


def test_collate_pads_right_and_masks_padding(tok, sample_data_dir):
    records = load_split(sample_data_dir, "train")[:3]
    examples = [encode_example(r, tok, 512) for r in records]
    batch = collate(examples, tok.pad_token_id)
    width = max(len(e) for e in examples)
    assert batch["input_ids"].shape == (3, width)
    for row, e in enumerate(examples):
        assert batch["attention_mask"][row].sum().item() == len(e)
        assert (batch["labels"][row, len(e):] == IGNORE_INDEX).all()
        assert batch["input_ids"][row, : len(e)].tolist() == e.input_ids
