"""Generation throughput: batched (left padding, KV cache) vs one prompt at a time, same model and prompts.

    python benchmarks/eval_generation.py [--preset small] [--records 48] [--batch-size 16] [--max-new-tokens 48]

The model is a random-weight GLM-4 preset with a tokenizer trained on the data; a random model rarely emits a
stop token, so both sides generate `--max-new-tokens` tokens per prompt, which keeps the comparison fair.
Uses the fetched sources (data/raw, `mentalglm data fetch`; val split) when present, else the project's sample.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))

from train_throughput import prepare  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="small", choices=["tiny", "small", "glm4-0414"])
    parser.add_argument("--records", type=int, default=48)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--max-new-tokens", type=int, default=48)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()

    import torch

    from mentalglm.config import ModelConfig
    from mentalglm.data.records import load_split
    from mentalglm.model.inference import generate_responses, load_for_generation

    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory(prefix="mentalglm-bench-") as tmp:
        data_name, data_dir, model_dir = prepare(Path(tmp), args.preset)
        val = load_split(data_dir, "val")
        instructions = [r.instruction for r in val[:: max(1, len(val) // args.records)][: args.records]]
        model, tokenizer = load_for_generation(ModelConfig(name_or_path=str(model_dir)), None)
        generate_responses(model, tokenizer, instructions[:2], 2, 4)  # warm up kernels and caches
        timings = {}
        for label, batch_size in (("batched", args.batch_size), ("one at a time", 1)):
            start = time.perf_counter()
            generate_responses(model, tokenizer, instructions, batch_size, args.max_new_tokens)
            timings[label] = len(instructions) / (time.perf_counter() - start)
    print(f"model preset: {args.preset}, data: {data_name} val, {len(instructions)} prompts, "
          f"{args.max_new_tokens} new tokens, threads {args.threads}")
    print(f"batched (batch {args.batch_size}): {timings['batched']:8.2f} samples/s")
    print(f"one at a time:        {timings['one at a time']:8.2f} samples/s")
    print(f"ratio: {timings['batched'] / timings['one at a time']:.2f}x   (target >= 5x)")


if __name__ == "__main__":
    main()
