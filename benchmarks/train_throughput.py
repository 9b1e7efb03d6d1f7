"""Training throughput: a plain single-process PEFT loop vs Ray Train + DeepSpeed (1 worker), same everything.

    python benchmarks/train_throughput.py [--preset small] [--steps 30] [--threads 2] [--batch-size 4]

Both sides train the same model (random-weight GLM-4 preset, tokenizer trained on the data), on the same
length-grouped batches, with AdamW, fp32, the same torch thread count. Tokens/s counts real (non-padding) tokens
over the timed steps (the first `--warmup` steps are left out on both sides). Also prints the share of padding
tokens with and without length grouping. Uses the fetched sources (data/raw, `mentalglm data fetch`) when present,
else the project's sample.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def prepare(work: Path, preset: str) -> tuple[str, Path, Path]:
    """Build the records and the model folder; return (data name, data dir, model dir)."""
    from mentalglm.config import DataBuildConfig, ModelInitConfig, load_config
    from mentalglm.data.build import build_dataset
    from mentalglm.model.tiny import create_model_folder

    raw = REPO / "data" / "raw"
    name = "cimhi" if (raw / "socialcd3k" / "train.tsv").exists() else "sample"
    cfg = load_config(DataBuildConfig, REPO / f"configs/data/{name}.yaml", [f"out_dir={work / 'data'}"])
    for source in cfg.sources:  # the splits fetched (a mirror of training parts has no test files)
        source.splits = {k: (REPO / v).resolve() for k, v in source.splits.items() if (REPO / v).exists()}
    build_dataset(cfg)
    model_cfg = ModelInitConfig(out_dir=work / "model", preset=preset,
                                tokenizer={"train_files": [work / "data" / "train.jsonl"],
                                           "vocab_size": 16000 if name == "cimhi" else 2000})
    return name, work / "data", create_model_folder(model_cfg)


def plain_loop(cfg, steps: int, warmup: int, threads: int) -> float:
    """Tokens/s of a single-process PEFT + torch AdamW loop over the trainer's own batches."""
    import torch

    from mentalglm.data.batching import collate
    from mentalglm.data.records import load_split
    from mentalglm.data.tokenization import encode_records
    from mentalglm.model.loading import load_model, load_tokenizer
    from mentalglm.train.loop import _epoch_batches, _loss_sum
    from mentalglm.train.lora import attach_lora

    torch.set_num_threads(threads)
    tokenizer = load_tokenizer(cfg.model)
    torch.manual_seed(cfg.run.seed)
    model = attach_lora(load_model(cfg.model, dtype=torch.float32), cfg.lora)
    model.train()
    examples = encode_records(load_split(cfg.data.dir, "train"), tokenizer, cfg.tokenization.max_seq_len)
    batches = _epoch_batches([len(e) for e in examples], cfg, 0, 0, 1)
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=cfg.train.lr)
    tokens, start = 0, None
    for step in range(steps):
        if step == warmup:
            tokens, start = 0, time.perf_counter()
        batch = collate([examples[j] for j in batches[step % len(batches)]], tokenizer.pad_token_id)
        loss_sum, n = _loss_sum(model, batch)
        (loss_sum / n).backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.train.max_grad_norm)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        tokens += int(batch["attention_mask"].sum())
    return tokens / (time.perf_counter() - start)


def ray_deepspeed(cfg, warmup: int) -> float:
    """Tokens/s of `mentalglm train` with one worker, read from its metrics over the steps after warmup."""
    from mentalglm.train import train

    result = train(cfg)
    rows = [json.loads(line) for line in (result.run_dir / "metrics.jsonl").read_text().splitlines()]
    seconds = tokens = 0.0
    for prev, row in zip(rows, rows[1:]):  # each report covers the steps since the previous one
        if row["step"] > warmup:
            window_s = row["step_time_s"] * (row["step"] - prev["step"])
            seconds += window_s
            tokens += row["tokens_per_s"] * window_s
    return tokens / seconds


def padding(cfg, batch_size: int) -> tuple[float, float]:
    """Padding share of the training split with and without length grouping."""
    from mentalglm.data.batching import length_grouped_batches, padding_share
    from mentalglm.data.records import load_split
    from mentalglm.data.tokenization import encode_records
    from mentalglm.model.loading import load_tokenizer

    tokenizer = load_tokenizer(cfg.model)
    lengths = [len(e) for e in encode_records(load_split(cfg.data.dir, "train"), tokenizer,
                                              cfg.tokenization.max_seq_len)]
    grouped = padding_share(lengths, length_grouped_batches(lengths, batch_size, seed=0))
    plain = padding_share(lengths, length_grouped_batches(lengths, batch_size, seed=0, group_factor=1))
    return grouped, plain


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="small", choices=["tiny", "small", "glm4-0414"])
    parser.add_argument("--steps", type=int, default=70)
    parser.add_argument("--warmup", type=int, default=10)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--dashboard", action=argparse.BooleanOptionalAction, default=True,
                        help="start the Ray dashboard with the local cluster (its agents share the CPUs)")
    args = parser.parse_args()

    import ray

    from mentalglm.config import load_config
    from mentalglm.config.train import TrainConfig

    with tempfile.TemporaryDirectory(prefix="mentalglm-bench-") as tmp:
        work = Path(tmp)
        data_name, data_dir, model_dir = prepare(work, args.preset)
        cfg = load_config(TrainConfig, REPO / "configs/train/local-tiny.yaml", [
            f"model.name_or_path={model_dir}", f"data.dir={data_dir}", f"run.storage_path={work / 'runs'}",
            "run.name=bench", f"deepspeed.config={REPO / 'configs/deepspeed/zero2.json'}",
            "scaling.num_workers=1", f"scaling.cpus_per_worker={args.threads}", f"ray.num_cpus={args.threads}",
            f"train.micro_batch_size={args.batch_size}", f"train.max_steps={args.steps}",
            f"train.checkpoint_every={args.warmup}", "lora.dropout=0.0", "train.eval_batch_size=32",
            "train.val_subset=64"])
        grouped, plain_pad = padding(cfg, args.batch_size)
        # This machine's CPU speed drifts by several percent between minutes: measure the plain loop before
        # and after the Ray run and compare against their mean.
        plain_before = plain_loop(cfg, args.steps, args.warmup, args.threads)
        ray.init(num_cpus=args.threads, include_dashboard=args.dashboard, log_to_driver=False)
        try:
            distributed = ray_deepspeed(cfg, args.warmup)
        finally:
            ray.shutdown()
        plain_after = plain_loop(cfg, args.steps, args.warmup, args.threads)
        plain = (plain_before + plain_after) / 2
    print(f"model preset: {args.preset}, data: {data_name}, batch {args.batch_size}, "
          f"threads {args.threads}, timed steps {args.steps - args.warmup}")
    print(f"(a) plain PEFT loop:             {plain:10.1f} tokens/s  (before {plain_before:.1f}, after "
          f"{plain_after:.1f})")
    print(f"(b) Ray Train + DeepSpeed (1 w): {distributed:10.1f} tokens/s")
    print(f"ratio (b)/(a): {distributed / plain:.3f}   (target >= 0.95)")
    print(f"padding share: length-grouped {grouped:.2%}, random batches {plain_pad:.2%}   (target <= 5%)")


if __name__ == "__main__":
    main()
