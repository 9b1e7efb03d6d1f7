"""Generation throughput: batched (left padding, KV cache) vs one prompt at a time, same model and prompts.

    python benchmarks/eval_generation.py [--preset small] [--rounds 5] [--batch-size 16] [--max-new-tokens 48]

The model is a random-weight GLM-4-9B-architecture preset with a tokenizer trained on the data; a random model
rarely emits a stop token, so both sides generate `--max-new-tokens` tokens per prompt, which keeps the comparison
fair. The sides take turns in rounds of `--batch-size` prompts each (benchmarks/ab_rounds.py: A B B A ...), the same
prompts for both sides in a round; per pair of rounds the ratio of samples/s (wall clock: the target, >= 5x, uses
it) and of CPU seconds per sample of this process. Uses the fetched sources (data/raw, `mentalglm data fetch`; val
split) when present, else the project's sample.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))

from ab_rounds import ProcessTree, compare, interleave, side_table  # noqa: E402
from train_throughput import prepare  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="small", choices=["tiny", "small", "glm4-0414"])
    parser.add_argument("--records", type=int, default=48, help="prompts drawn from the val split")
    parser.add_argument("--rounds", type=int, default=5, help="rounds per side")
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
        position = {"batched": 0, "one at a time": 0}

        def side(label: str, batch_size: int):
            def run() -> float:
                start = position[label]
                prompts = [instructions[(start + i) % len(instructions)] for i in range(args.batch_size)]
                position[label] += args.batch_size
                generate_responses(model, tokenizer, prompts, batch_size, args.max_new_tokens)
                return len(prompts)
            return run, ProcessTree(tree=False)

        rounds = interleave({"one at a time": side("one at a time", 1),
                             f"batched (batch {args.batch_size})": side("batched", args.batch_size)}, args.rounds)
    wall, cpu = compare(rounds, "one at a time", f"batched (batch {args.batch_size})")
    print(f"model preset: {args.preset}, data: {data_name} val, {len(instructions)} prompts, "
          f"{args.max_new_tokens} new tokens, threads {args.threads}, {args.rounds} rounds of {args.batch_size} "
          "prompts per side")
    print(side_table(rounds, "samples", per=1))
    print(f"batched / one at a time, samples/s:      {wall}   (target >= 5x: this ratio)")
    print(f"batched / one at a time, CPU per sample: {cpu}")

if __name__ == "__main__":
    main()
