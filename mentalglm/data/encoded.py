"""A training split as memory-mapped Arrow: the build's Parquet records, tokenised once per tokenizer and settings.

`encoded_split(data_dir, "train", tasks, tokenizer, max_seq_len, min_post_chars)` reads `{data_dir}/hf/{task}/
train.parquet` through `datasets` (memory-mapped Arrow files in a local cache, `MENTALGLM_CACHE`, default
~/.cache/mentalglm/datasets), encodes every record with `encode_example` in batches (`Dataset.map`, cached under a
fingerprint of the Parquet files' contents, the tokenizer and the settings) and hands back an `EncodedSplit`: the
examples are read from the mapped files when a batch needs them, so a build of millions of records is never held
as Python lists. Only the lengths (for length-grouped batching) are kept in memory, as one integer array.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any, Iterator, Sequence

from mentalglm.runs.files import file_sha256
from mentalglm.data.records import Record
from mentalglm.data.split_records import datasets_cache_dir, parquet_files
from mentalglm.data.tokenization import EncodedExample, encode_example

_ENCODING_VERSION = "1"  # bump when encode_example's output changes for the same inputs


class EncodedSplit(Sequence[EncodedExample]):
    """Encoded examples backed by an Arrow dataset: `len`, indexing, `lengths`, `post_truncated`."""

    def __init__(self, dataset: Any):
        self.dataset = dataset
        self.lengths: list[int] = list(dataset["length"]) if len(dataset) else []

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, index):  # type: ignore[override]
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self)))]
        row = self.dataset[int(index)]
        return EncodedExample(row["id"], row["input_ids"], row["labels"], row["post_truncated"],
                              row["response_truncated"])

    def __iter__(self) -> Iterator[EncodedExample]:
        for i in range(len(self)):
            yield self[i]

    @property
    def post_truncated(self) -> int:
        """How many examples had their post shortened to fit."""
        return int(sum(self.dataset["post_truncated"])) if len(self) else 0


def _fingerprint(files: list[Path], tokenizer: Any, max_seq_len: int, min_post_chars: int) -> str:
    digest = hashlib.sha256(f"{_ENCODING_VERSION}|{max_seq_len}|{min_post_chars}".encode())
    backend = getattr(tokenizer, "backend_tokenizer", None)
    digest.update((backend.to_str() if backend is not None else repr(tokenizer.get_vocab())).encode())
    digest.update(str(getattr(tokenizer, "chat_template", "")).encode())
    digest.update(repr(getattr(tokenizer, "mentalglm_system_prompt", None)).encode())  # model.system_prompt
    for path in files:
        digest.update(f"{path.name}:{file_sha256(path)}".encode())
    return digest.hexdigest()[:32]


def encoded_split(data_dir: str | Path, split: str, tasks: list[str] | None, tokenizer: Any, max_seq_len: int,
                  min_post_chars: int = 16) -> EncodedSplit:
    """The encoded examples of `split` (records of `tasks`, all when None), task by task in name order.

    Raises:
        DataError: the build wrote no Parquet for this split (a data folder from an older build: rebuild it).
        SequenceTooLongError: a record cannot fit `max_seq_len` (see `encode_example`).
    """
    from datasets import Dataset, Features, List, Value, concatenate_datasets

    files = parquet_files(data_dir, split, tasks)
    fingerprint = _fingerprint(files, tokenizer, max_seq_len, min_post_chars)
    cache = datasets_cache_dir() / fingerprint
    features = Features({"id": Value("string"), "input_ids": List(Value("int32")), "labels": List(Value("int32")),
                         "length": Value("int32"), "post_truncated": Value("bool"),
                         "response_truncated": Value("bool")})

    def encode(batch: dict[str, list]) -> dict[str, list]:
        out: dict[str, list] = {name: [] for name in features}
        for i in range(len(batch["id"])):
            record = Record(batch["id"][i], "", "", split, batch["post"][i], [], None, batch["instruction"][i],
                            batch["response"][i])
            example = encode_example(record, tokenizer, max_seq_len, min_post_chars)
            out["id"].append(example.id)
            out["input_ids"].append(example.input_ids)
            out["labels"].append(example.labels)
            out["length"].append(len(example))
            out["post_truncated"].append(example.post_truncated)
            out["response_truncated"].append(example.response_truncated)
        return out

    cache.mkdir(parents=True, exist_ok=True)
    parts = []
    for path in files:
        records = Dataset.from_parquet(str(path), cache_dir=str(datasets_cache_dir() / "parquet"),
                                       columns=["id", "post", "instruction", "response"])
        parts.append(records.map(encode, batched=True, batch_size=256, remove_columns=records.column_names,
                                 features=features, cache_file_name=str(cache / f"{path.parent.name}.arrow"),
                                 new_fingerprint=f"{fingerprint}-{path.parent.name}",
                                 desc=f"tokenising {path.parent.name}/{split}"))
    return EncodedSplit(parts[0] if len(parts) == 1 else concatenate_datasets(parts))
