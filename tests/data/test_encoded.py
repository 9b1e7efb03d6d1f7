"""The training split as memory-mapped Arrow: the same examples as encoding the JSON-lines records, read from
mapped files, and tokenised once (a second call reuses the cache)."""

from transformers import AutoTokenizer

from mentalglm.data.encoded import encoded_split
from mentalglm.data.records import load_split
from mentalglm.data.tokenization import encode_records


def test_the_arrow_split_holds_exactly_the_encoded_records_and_is_cached(sample_data_dir, tiny_model_dir, tmp_path,
                                                                       monkeypatch):
    monkeypatch.setenv("MENTALGLM_CACHE", str(tmp_path / "cache"))
    tok = AutoTokenizer.from_pretrained(tiny_model_dir)
    split = encoded_split(sample_data_dir, "train", None, tok, 96, 16)
    expected = {e.id: e for e in encode_records(load_split(sample_data_dir, "train"), tok, 96, 16)}
    assert len(split) == len(expected) and {e.id for e in split} == set(expected)
    for example in split:
        assert example == expected[example.id]
    assert split.lengths == [len(e) for e in split] and split.post_truncated == sum(
        e.post_truncated for e in expected.values())
    assert split.dataset.cache_files and all(f["filename"].startswith(str(tmp_path / "cache"))
                                             for f in split.dataset.cache_files)  # read from mapped files
    arrow = sorted((tmp_path / "cache").rglob("*.arrow"))
    stamps = [p.stat().st_mtime_ns for p in arrow]
    again = encoded_split(sample_data_dir, "train", ["suicide_risk"], tok, 96, 16)
    assert {e.id for e in again} == {r.id for r in load_split(sample_data_dir, "train") if r.task == "suicide_risk"}
    assert [p.stat().st_mtime_ns for p in arrow] == stamps  # nothing tokenised again
    shorter = encoded_split(sample_data_dir, "train", None, tok, 48, 16)  # other settings: encoded anew
    assert max(shorter.lengths) <= 48 < max(split.lengths)


def test_the_system_prompt_is_part_of_the_encoded_cache_key(sample_data_dir, tiny_model_dir):
    from mentalglm.config.schema import ModelConfig
    from mentalglm.data.encoded import encoded_split
    from mentalglm.model.loading import load_tokenizer

    plain = load_tokenizer(ModelConfig(name_or_path=str(tiny_model_dir)))
    system = load_tokenizer(ModelConfig(name_or_path=str(tiny_model_dir), system_prompt="你是一名心理健康助手。"))
    without = list(encoded_split(sample_data_dir, "train", None, plain, 512).lengths)
    with_system = list(encoded_split(sample_data_dir, "train", None, system, 512).lengths)
    extra = {b - a for a, b in zip(without, with_system)}
    assert len(extra) == 1 and extra.pop() > 0  # every example grew by the system turn: no stale cache was reused
