"""Encoding prompts from many threads at once: one lock around the shared tokenizer vs MentalGLM's lock-free
private copies of its backend (`mentalglm.data.prompt_ids`), in one process.

    python benchmarks/tokenizer_concurrency.py [--threads 8] [--prompts 2000] [--model PATH]

Both sides build the same chat prompts (template with placeholders, contents as plain text) and must give the same
ids. The sides take turns in rounds (benchmarks/ab_rounds.py: A B B A ...); printed per pair of rounds: the ratio of
prompts/s (the comparison) and of this process's CPU seconds per prompt, as median with min-max. Without --model the
tiny model's tokenizer is trained on the project's sample data first.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))

from ab_rounds import ProcessTree, compare, interleave, side_table  # noqa: E402


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

    from mentalglm.data.prompt_ids import PromptEncoder
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
        with ThreadPoolExecutor(args.threads) as pool:
            list(pool.map(locked, texts[:100]))  # warm up both
            list(pool.map(copies.instruction_ids, texts[:100]))

            def side(encode):
                return (lambda: len(list(pool.map(encode, texts)))), ProcessTree(tree=False)

            rounds = interleave({"one lock": side(locked), "backend copies": side(copies.instruction_ids)},
                                args.rounds)
    wall, cpu = compare(rounds, "one lock", "backend copies")
    print(f"{args.prompts} prompts per round, {args.threads} threads, {args.rounds} rounds per side")
    print(side_table(rounds, "prompts"))
    print(f"backend copies / one lock, prompts/s:      {wall}   (the comparison: wall clock)")
    print(f"backend copies / one lock, CPU per prompt: {cpu}")

if __name__ == "__main__":
    main()
