"""One prepared GPU check for GLM-4-9B LoRA: run it on one lent GPU (under 8 minutes), read one table.

    python benchmarks/gpu_check.py              # one GPU: GLM-4-9B's exact shape, random weights, bf16, nccl
    python benchmarks/gpu_check.py --dry-run    # any machine, CPU: the tiny preset, gloo; the same table

The model is built from configs/model/glm-4-9b-chat-hf/config.json with random weights (no download) and LoRA r=16
on every projection, dropout 0.05, as configs/train/glm4-9b-lora.yaml trains it. Each part runs in its own
process (its own peak memory, its own process group) and states what it needs; a part whose needs are missing
is printed as skipped, with the reason:

    lora-torch        LoRA steps in a plain PyTorch loop           needs torch, transformers, peft, a GPU
    lora-zero2        the same through DeepSpeed ZeRO-2 (nccl)     needs deepspeed too
    lora-zero3-ckpt   DeepSpeed ZeRO-3 + activation checkpointing  needs deepspeed too
    generate          batched greedy generation, batch 1 vs 16     needs torch, transformers, a GPU

Columns: tokens/s over the timed steps (after warm-up), model FLOPs utilisation against the GPU's dense bf16 peak
(model FLOPs as `mentalglm plan` counts them: 4N + 6N_lora + 12 L H Q T per token), peak allocated GPU memory
beside `mentalglm plan`'s prediction for the same settings on one GPU, and the wall time of the part.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
REFERENCE = REPO / "configs/model/glm-4-9b-chat-hf"
PARTS = ("lora-torch", "lora-zero2", "lora-zero3-ckpt", "generate")
NEEDS = {"lora-torch": ("torch", "transformers", "peft"), "lora-zero2": ("torch", "transformers", "peft", "deepspeed"),
         "lora-zero3-ckpt": ("torch", "transformers", "peft", "deepspeed"), "generate": ("torch", "transformers")}
TARGETS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_up_proj", "down_proj"]
# (micro batch, sequence, warm-up steps, timed steps, generation batch, prompt, new tokens)
GPU_SIZES = dict(batch=4, seq=1024, warmup=2, steps=5, gen_batch=16, prompt=256, new=128)
DRY_SIZES = dict(batch=2, seq=128, warmup=1, steps=2, gen_batch=4, prompt=32, new=16)


def _missing(part: str, dry_run: bool) -> str | None:
    absent = [m for m in NEEDS[part] if importlib.util.find_spec(m) is None]
    if absent:
        return f"needs {', '.join(absent)}"
    if not dry_run:
        import torch

        if not torch.cuda.is_available():
            return "needs a CUDA GPU (or --dry-run)"
    return None


def _model_config(dry_run: bool):
    from transformers import AutoConfig

    if dry_run:
        from mentalglm.model.tiny import preset_config

        return preset_config("tiny", 2000, pad_token_id=0)
    return AutoConfig.from_pretrained(REFERENCE)


def _build(dry_run: bool, device):
    import torch
    from transformers import AutoModelForCausalLM

    torch.manual_seed(0)
    with torch.device(device):
        model = AutoModelForCausalLM.from_config(_model_config(dry_run), dtype=torch.bfloat16)
    model.generation_config.eos_token_id = None  # random weights: always generate the full length
    return model


def _shape_and_plan(dry_run: bool, sizes: dict, ds: dict | None, checkpointing: bool) -> tuple[object, float | None]:
    """The planner's model shape and its memory prediction (bytes) for one GPU with these settings."""
    try:
        from mentalglm.config.schema import ModelConfig
        from mentalglm.config.train import LoraSection
        from mentalglm.plan.memory import ZeroSettings, memory_plan
        from mentalglm.plan.shape import model_shape
    except ImportError:
        return None, None
    with tempfile.TemporaryDirectory() as tmp:
        _model_config(dry_run).save_pretrained(tmp)
        shape = model_shape(ModelConfig(name_or_path=tmp), LoraSection(r=16, alpha=32, target_modules=TARGETS))
    zero = ZeroSettings.of(ds or {"zero_optimization": {"stage": 0}})
    plan = memory_plan(shape, zero, 1, True, sizes["batch"], sizes["seq"], checkpointing, True)
    return shape, plan.total


def _init_process_group(backend: str) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=os.environ.get("GPU_CHECK_PORT", "29533"), RANK="0",
                      WORLD_SIZE="1", LOCAL_RANK="0")
    import deepspeed

    deepspeed.init_distributed(dist_backend=backend)


def _ds_config(name: str, sizes: dict) -> dict:
    from mentalglm.config import load_config
    from mentalglm.config.train import TrainConfig
    from mentalglm.config.deepspeed import fill_deepspeed_config

    cfg = load_config(TrainConfig, REPO / "configs/train/glm4-9b-lora.yaml", [
        f"deepspeed.config={REPO / 'configs/deepspeed' / name}", f"train.micro_batch_size={sizes['batch']}",
        "train.grad_accum=1"])
    ds = json.loads((REPO / "configs/deepspeed" / name).read_text())
    return fill_deepspeed_config(ds, cfg, 1, bf16=True)


def run_lora(part: str, dry_run: bool) -> dict:
    """Timed LoRA training steps of `part`; returns the row's numbers."""
    import torch
    from peft import LoraConfig, get_peft_model

    sizes = DRY_SIZES if dry_run else GPU_SIZES
    device = torch.device("cpu" if dry_run else "cuda")
    ds = None
    if part != "lora-torch":
        if dry_run:
            os.environ["DS_ACCELERATOR"] = "cpu"
            from mentalglm.train.compat import disable_deepspeed_cpu_shm_comm

            disable_deepspeed_cpu_shm_comm()
        _init_process_group("gloo" if dry_run else "nccl")
        ds_name = "zero3.json" if part == "lora-zero3-ckpt" else "zero2.json"
        ds = _ds_config(ds_name, sizes)
    checkpointing = part == "lora-zero3-ckpt"
    shape, planned = _shape_and_plan(dry_run, sizes, ds, checkpointing)
    note = ""
    if not dry_run and planned is not None:
        # without checkpointing, GLM-4-9B's activations at 4 x 1,024 need ~51 GiB: halve the micro batch until
        # the plan fits this card (a 40 GB A100), so the part measures instead of running out of memory
        card = torch.cuda.get_device_properties(0).total_memory
        while planned > 0.92 * card and sizes["batch"] > 1:
            sizes = {**sizes, "batch": sizes["batch"] // 2}
            shape, planned = _shape_and_plan(dry_run, sizes, ds, checkpointing)
            note = f" (micro batch lowered so the plan fits {card / 2**30:.0f} GiB)"
        if ds is not None:
            ds = _ds_config(ds_name, sizes)
    if not dry_run:
        torch.cuda.reset_peak_memory_stats()
    model = _build(dry_run, device)
    if checkpointing:
        from mentalglm.train.compat import enable_activation_checkpointing

        enable_activation_checkpointing(model, reentrant=False)
        model.enable_input_require_grads()
    model = get_peft_model(model, LoraConfig(r=16, lora_alpha=32, lora_dropout=0.05, target_modules=TARGETS,
                                             task_type="CAUSAL_LM")).to(torch.bfloat16)
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=1e-4)
    engine = model
    if ds is not None:
        import deepspeed

        engine, optimizer, _, _ = deepspeed.initialize(model=model, optimizer=optimizer, config=ds,
                                                       dist_init_required=False)
    engine.train()
    vocab = model.config.vocab_size
    generator = torch.Generator().manual_seed(0)
    times = []
    for step in range(sizes["warmup"] + sizes["steps"]):
        ids = torch.randint(10, vocab, (sizes["batch"], sizes["seq"]), generator=generator).to(device)
        if not dry_run:
            torch.cuda.synchronize()
        start = time.perf_counter()
        loss = engine(input_ids=ids, labels=ids).loss
        if ds is not None:
            engine.backward(loss)
            engine.step()
        else:
            loss.backward()
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
        if not dry_run:
            torch.cuda.synchronize()
        if step >= sizes["warmup"]:
            times.append(time.perf_counter() - start)
    tokens_per_s = sizes["batch"] * sizes["seq"] * len(times) / sum(times)
    row = {"tokens_per_s": tokens_per_s, "planned_gib": planned / 2**30 if planned else None,
           "setting": f"micro batch {sizes['batch']} x {sizes['seq']}, bf16{note}"}
    if shape is not None:
        from mentalglm.plan.compute import model_flops_per_token

        row["model_flops_per_s"] = tokens_per_s * model_flops_per_token(shape, sizes["seq"])
    if not dry_run:
        row["peak_gib"] = torch.cuda.max_memory_allocated() / 2**30
    return row


def run_generate(dry_run: bool) -> dict:
    """Greedy generation with the KV cache: tokens/s at batch 1 and at the batched size."""
    import torch

    sizes = DRY_SIZES if dry_run else GPU_SIZES
    device = torch.device("cpu" if dry_run else "cuda")
    if not dry_run:
        torch.cuda.reset_peak_memory_stats()
    model = _build(dry_run, device).eval()
    vocab = model.config.vocab_size
    rates = {}
    for batch in (1, sizes["gen_batch"]):
        ids = torch.randint(10, vocab, (batch, sizes["prompt"]), generator=torch.Generator().manual_seed(1)).to(device)
        with torch.no_grad():
            model.generate(ids, max_new_tokens=2, min_new_tokens=2, do_sample=False)  # warm-up
            if not dry_run:
                torch.cuda.synchronize()
            start = time.perf_counter()
            out = model.generate(ids, max_new_tokens=sizes["new"], min_new_tokens=sizes["new"], do_sample=False)
            if not dry_run:
                torch.cuda.synchronize()
        rates[batch] = batch * (out.shape[1] - ids.shape[1]) / (time.perf_counter() - start)
    row = {"tokens_per_s": rates[sizes["gen_batch"]],
           "setting": f"batch {sizes['gen_batch']}: {rates[sizes['gen_batch']] / rates[1]:.1f} x batch 1 "
                      f"({rates[1]:.0f} tokens/s); prompt {sizes['prompt']}, {sizes['new']} new"}
    if not dry_run:
        row["peak_gib"] = torch.cuda.max_memory_allocated() / 2**30
    return row


def _gpu_peak_tflops() -> tuple[str, float | None]:
    import torch

    name = torch.cuda.get_device_name(0)
    from mentalglm.plan.hardware import GPUS

    for key in sorted(GPUS, key=len, reverse=True):
        if key.split("-")[0] in name.replace(" ", ""):
            return name, GPUS[key].bf16_tflops
    return name, None


def _run_part(part: str, dry_run: bool, timeout_s: float) -> dict:
    missing = _missing(part, dry_run)
    if missing:
        return {"skipped": missing}
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "row.json"
        cmd = [sys.executable, __file__, "--part", part, "--out", str(out)] + (["--dry-run"] if dry_run else [])
        start = time.perf_counter()
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout_s)
        except subprocess.TimeoutExpired:
            return {"skipped": f"timed out after {timeout_s:.0f} s"}
        if proc.returncode != 0 or not out.exists():
            tail = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["no output"]
            return {"skipped": f"failed (exit {proc.returncode}): {tail[0][:160]}"}
        row = json.loads(out.read_text())
        row["wall_s"] = time.perf_counter() - start
        return row


def _cell(value: float | None, fmt: str) -> str:
    return "-" if value is None else format(value, fmt)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dry-run", action="store_true", help="CPU, the tiny preset, gloo: check the script here")
    parser.add_argument("--parts", nargs="+", choices=PARTS, default=list(PARTS))
    parser.add_argument("--timeout", type=float, default=110.0, help="seconds per part (4 parts: under 8 minutes)")
    parser.add_argument("--part", choices=PARTS, help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.part:  # one part, in its own process
        row = run_generate(args.dry_run) if args.part == "generate" else run_lora(args.part, args.dry_run)
        Path(args.out).write_text(json.dumps(row))
        return
    if args.dry_run:
        device, peak = "CPU (dry run: tiny preset, gloo; no GPU peak, so no MFU or GPU memory)", None
    elif importlib.util.find_spec("torch") and __import__("torch").cuda.is_available():
        device, peak = _gpu_peak_tflops()
        device = f"{device} (dense bf16 peak {peak or 'unknown'} TFLOP/s), GLM-4-9B shape, random weights"
    else:
        device, peak = "no CUDA GPU", None
    print(f"gpu_check: {device}")
    header = f"{'part':<17}{'tokens/s':>10}{'MFU':>7}{'peak GiB':>10}{'plan GiB':>10}{'wall s':>8}  setting / note"
    print(header)
    print("-" * len(header))
    for part in args.parts:
        row = _run_part(part, args.dry_run, args.timeout)
        if "skipped" in row:
            print(f"{part:<17}{'-':>10}{'-':>7}{'-':>10}{'-':>10}{'-':>8}  skipped: {row['skipped']}")
            continue
        mfu = row["model_flops_per_s"] / (peak * 1e12) if peak and row.get("model_flops_per_s") else None
        print(f"{part:<17}{row['tokens_per_s']:>10.1f}{_cell(mfu, '.1%'):>7}{_cell(row.get('peak_gib'), '.1f'):>10}"
              f"{_cell(row.get('planned_gib'), '.2f'):>10}{row['wall_s']:>8.1f}  {row['setting']}")


if __name__ == "__main__":
    main()
