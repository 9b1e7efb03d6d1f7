"""Encoding prompts from many threads at once: one lock around the shared tokenizer vs MentalGLM's lock-free
private copies of its backend (`mentalglm.model.prompt_ids`), in one process.

    python benchmarks/tokenizer_concurrency.py [--threads 8] [--prompts 2000] [--model PATH]

Both sides build the same chat prompts (template with placeholders, contents as plain text) and must give the same
ids; the ratio printed is the median prompts/s of the copies over that of the lock, over alternating rounds. Without --model the tiny model's
tokenizer is trained on the project's sample data first.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def _tokenizer(model: str | None, work: Path):
    from transformers import AutoTokenizer

    if model:
        return AutoTokenizer.from_pretrained(model)
    from mentalglm.config import DataBuildConfig, ModelInitConfig, load_config
    from mentalglm.data.build import build_dataset
    from mentalglm.model.tiny import create_model_folder

    cfg = load_config(DataBuildConfig, REPO / "configs/data/sample.yaml", [f"out_dir={work / 'data'}"])
    for source in cfg.sources:
        source.splits = {k: (REPO / v).resolve() for k, v in source.splits.items()}
    build_dataset(cfg)
    folder = create_model_folder(ModelInitConfig(out_dir=work / "model", preset="tiny", tokenizer={
        "train_files": [work / "data" / "train.jsonl"], "vocab_size": 2000}))
    return AutoTokenizer.from_pretrained(folder)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--prompts", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=5, help="alternating rounds; the median of each side counts")
    parser.add_argument("--model", help="a model folder whose tokenizer to use (default: the tiny model's)")
    args = parser.parse_args()

    from mentalglm.model.prompt_ids import PromptEncoder
    from mentalglm.tasks import render_instruction

    with tempfile.TemporaryDirectory(prefix="mentalglm-tok-") as tmp:
        tok = _tokenizer(args.model, Path(tmp))
        texts = [render_instruction("suicide_risk", f"最近总觉得自己什么都做不好{i}，" * (i % 40 + 1))
                 for i in range(args.prompts)]
        shared = PromptEncoder(tok)
        lock = threading.Lock()
        # the lock variant: the same encoder logic, but through the shared wrapper, one caller at a time
        shared._backends = None  # noqa: SLF001 - forces PromptEncoder's locked path through the wrapper

        def locked(text: str) -> list[int]:
            with lock:
                return shared.instruction_ids(text)

        copies = PromptEncoder(tok)
        expected = [copies.instruction_ids(t) for t in texts[:50]]
        assert [locked(t) for t in texts[:50]] == expected, "the two variants disagree"
        rates: dict[str, list[float]] = {"one lock": [], "backend copies": []}
        with ThreadPoolExecutor(args.threads) as pool:
            list(pool.map(locked, texts[:100]))  # warm up both
            list(pool.map(copies.instruction_ids, texts[:100]))
            for _ in range(args.rounds):  # alternating rounds, so a busy moment of the machine hits both sides
                for name, encode in (("one lock", locked), ("backend copies", copies.instruction_ids)):
                    start = time.perf_counter()
                    list(pool.map(encode, texts))
                    rates[name].append(args.prompts / (time.perf_counter() - start))
    results = {name: statistics.median(values) for name, values in rates.items()}
    for name, rate in results.items():
        print(f"{name:>15}: {rate:8.0f} prompts/s ({args.threads} threads)")
    print(f"ratio (backend copies / one lock): {results['backend copies'] / results['one lock']:.2f}x")


if __name__ == "__main__":
    main()
