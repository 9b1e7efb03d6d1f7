"""Training throughput: a plain single-process PEFT loop vs Ray Train + DeepSpeed (1 worker), same everything.

    python benchmarks/train_throughput.py [--preset small] [--rounds 10] [--steps 12] [--threads 2] \\
        [--batch-size 4] [--show-rounds]

Both sides train the same model (random-weight GLM-4-9B-architecture preset, tokenizer trained on the data) on the
same length-grouped batches, with AdamW, fp32, the same torch thread count, and run side by side in one process:
the plain loop in this process, `mentalglm train`'s recipe (`LoraRecipe`: model, data, DeepSpeed engine) in one Ray
Train worker of the local cluster the project starts (`mentalglm.cluster.connect`). After warm-up steps on both, they
take turns in short rounds of `--steps` optimizer steps (benchmarks/ab_rounds.py: A B B A ...; the idle side blocks
on a pipe). Per round: tokens/s over wall time, and the CPU time of the side's processes: this process alone for
the plain loop; this process and every Ray process under it (GCS, raylet, agents, the Train controller and worker)
for Ray Train. The target (Ray Train >= 0.95 x the plain loop) uses the CPU-time ratio; the wall-clock ratio is
printed beside it. `--ray-defaults` starts Ray as `ray.init` would by default (dashboard on, workers at nice 15),
to see what the project's settings save. Uses the fetched sources (data/raw, `mentalglm data fetch`) when present,
else the project's sample; also prints the share of padding tokens with and without length grouping.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from ab_rounds import ProcessTree, compare, interleave, round_table, side_table  # noqa: E402


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


class PlainLoop:
    """A single-process PEFT + torch AdamW loop over the trainer's own examples and batches, stepped round by
    round."""

    def __init__(self, cfg, threads: int):
        import torch

        from mentalglm.data.encoded import encoded_split
        from mentalglm.model.loading import load_model, load_tokenizer
        from mentalglm.train.recipe import epoch_batches
        from mentalglm.train.lora import attach_lora

        torch.set_num_threads(threads)
        self.cfg, self.tokenizer = cfg, load_tokenizer(cfg.model)
        torch.manual_seed(cfg.run.seed)
        self.model = attach_lora(load_model(cfg.model, dtype=torch.float32), cfg.lora)
        self.model.train()
        # the examples and batches the recipe trains on: the same mapped encoding, in the same order
        tok = cfg.tokenization
        self.examples = encoded_split(cfg.data.dir, "train", cfg.data.tasks, self.tokenizer, tok.max_seq_len,
                                      tok.min_post_chars)
        self.batches = epoch_batches(self.examples.lengths, cfg, 0, 0, 1)
        self.optimizer = torch.optim.AdamW([p for p in self.model.parameters() if p.requires_grad], lr=cfg.train.lr)
        self.position = 0

    def steps(self, n: int) -> int:
        """`n` optimizer steps; returns the real (non-padding) tokens trained on."""
        import torch

        from mentalglm.data.batching import collate
        from mentalglm.train.recipe import loss_sum

        tokens = 0
        for _ in range(n):
            batch = collate([self.examples[j] for j in self.batches[self.position % len(self.batches)]],
                            self.tokenizer.pad_token_id)
            self.position += 1
            total, count = loss_sum(self.model, batch)
            (total / count).backward()
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.cfg.train.max_grad_norm)
            self.optimizer.step()
            self.optimizer.zero_grad(set_to_none=True)
            tokens += int(batch["attention_mask"].sum())
        return tokens


def gated_recipe_loop(config: dict) -> None:
    """Ray Train worker: `mentalglm train`'s recipe set up as usual, then, for each line the driver writes to the
    `go` pipe (a number of optimizer steps), that many steps, answered on the `done` pipe with the tokens trained
    on; ends when the driver closes `go`. Both sides block on the pipes, so waiting costs no CPU."""
    import torch

    from mentalglm.train.recipe import LoraRecipe, epoch_batches

    gate = Path(config["gate"])
    recipe = LoraRecipe(config["loop"])
    recipe.setup()
    recipe.engine.train()
    batches = epoch_batches(recipe.lengths, recipe.cfg, 0, 0, 1)
    position = 0
    (gate / "ready").write_text("")
    with open(gate / "go") as go, open(gate / "done", "w") as done:
        for line in go:
            tokens = 0
            for _ in range(int(line) * recipe.cfg.train.grad_accum):
                tokens += recipe.micro_step(batches[position % len(batches)])[2]  # what `mentalglm train` runs
                position += 1
            torch.cuda.synchronize() if torch.cuda.is_available() else None
            done.write(f"{tokens}\n")
            done.flush()


class RayTrainSide:
    """The Ray Train worker of `gated_recipe_loop`, run in a background thread and stepped through its pipes."""

    def __init__(self, cfg, gate: Path):
        from ray.train import RunConfig, ScalingConfig
        from ray.train.torch import TorchConfig, TorchTrainer

        from mentalglm.config.deepspeed import read_deepspeed_config
        from mentalglm.train import resolve_paths

        cfg = resolve_paths(cfg)
        os.mkfifo(gate / "go")
        os.mkfifo(gate / "done")
        env = {"TOKENIZERS_PARALLELISM": "false", "OMP_NUM_THREADS": str(cfg.scaling.cpus_per_worker),
               "DS_ACCELERATOR": "cpu"}
        loop = {"cfg": cfg.model_dump(mode="json"), "deepspeed": read_deepspeed_config(cfg), "fingerprint": "bench"}
        self.trainer = TorchTrainer(
            gated_recipe_loop, train_loop_config={"gate": str(gate), "loop": loop},
            torch_config=TorchConfig(backend="gloo"),
            scaling_config=ScalingConfig(num_workers=1, resources_per_worker={"CPU": cfg.scaling.cpus_per_worker}),
            run_config=RunConfig(name="bench-gated", storage_path=str(gate.parent / "ray-runs"),
                                 worker_runtime_env={"env_vars": env}))
        self.thread = threading.Thread(target=self.trainer.fit, daemon=True)
        self.thread.start()
        while not (gate / "ready").exists():  # set-up, before anything is measured
            if not self.thread.is_alive():
                raise RuntimeError("the Ray Train worker ended before its set-up finished; see Ray's session logs")
            time.sleep(0.1)
        self.go, self.done = open(gate / "go", "w"), open(gate / "done")  # the worker opens them in this order

    def steps(self, n: int) -> int:
        self.go.write(f"{n}\n")
        self.go.flush()
        answer = self.done.readline()
        if not answer:
            raise RuntimeError("the Ray Train worker ended early; see Ray's session logs")
        return int(answer)

    def stop(self) -> None:
        self.go.close()
        self.done.close()
        self.thread.join(timeout=120)


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
    parser.add_argument("--rounds", type=int, default=10, help="rounds per side (>= 5 for the median)")
    parser.add_argument("--steps", type=int, default=12, help="optimizer steps per round")
    parser.add_argument("--warmup", type=int, default=4, help="steps on each side before the rounds")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--show-rounds", action="store_true", help="print every round, in the order they ran")
    parser.add_argument("--ray-defaults", action="store_true",
                        help="start Ray with ray.init's defaults (dashboard, workers at nice 15), not the project's")
    args = parser.parse_args()

    import ray

    from mentalglm.config import load_config
    from mentalglm.config.schema import RaySection
    from mentalglm.config.train import TrainConfig
    from mentalglm.cluster.connect import ensure_ray

    with tempfile.TemporaryDirectory(prefix="mentalglm-bench-") as tmp:
        work = Path(tmp)
        data_name, data_dir, model_dir = prepare(work, args.preset)
        cfg = load_config(TrainConfig, REPO / "configs/train/tiny-lora.yaml", [
            f"model.name_or_path={model_dir}", f"data.dir={data_dir}", f"run.storage_path={work / 'runs'}",
            "run.name=bench", f"deepspeed.config={REPO / 'configs/deepspeed/zero2.json'}",
            "scaling.num_workers=1", f"scaling.cpus_per_worker={args.threads}", f"ray.num_cpus={args.threads}",
            f"train.micro_batch_size={args.batch_size}", "lora.dropout=0.0", "train.eval_batch_size=32",
            "train.val_subset=8"])
        grouped, plain_pad = padding(cfg, args.batch_size)
        if args.ray_defaults:
            ray.init(num_cpus=args.threads, include_dashboard=True, log_to_driver=False)
        else:
            ensure_ray(RaySection(num_cpus=args.threads))
        gate = work / "gate"
        gate.mkdir()
        try:
            ray_side = RayTrainSide(cfg, gate)
            plain = PlainLoop(cfg, args.threads)
            plain.steps(args.warmup)
            ray_side.steps(args.warmup)
            ray_tree = ProcessTree()
            rounds = interleave({
                "plain PEFT loop": (lambda: plain.steps(args.steps), ProcessTree(tree=False)),
                "Ray Train + DeepSpeed (1 w)": (lambda: ray_side.steps(args.steps), ray_tree),
            }, args.rounds)
            ray_side.stop()
        finally:
            ray.shutdown()
    wall, cpu = compare(rounds, "plain PEFT loop", "Ray Train + DeepSpeed (1 w)")
    print(f"model preset: {args.preset}, data: {data_name}, batch {args.batch_size}, threads {args.threads}, "
          f"{args.rounds} rounds of {args.steps} steps per side after {args.warmup} warm-up steps, "
          f"Ray: {'ray.init defaults' if args.ray_defaults else 'the project local cluster'}")
    print(side_table(rounds, "tokens"))
    if args.show_rounds:
        print(round_table(rounds, "tokens"))
    print(f"Ray Train / plain, CPU time per token:  {cpu}   (target >= 0.95: this ratio)")
    print(f"Ray Train / plain, wall-clock tokens/s: {wall}")
    print("where the Ray side's CPU went:\n" + ray_tree.breakdown())
    print(f"padding share: length-grouped {grouped:.2%}, random batches {plain_pad:.2%}   (target <= 5%)")


if __name__ == "__main__":
    main()
