"""What a training checkpoint holds, and how every rank writes and reads it.

Layout (Ray merges the folders of all ranks into one):
    adapter/             the LoRA adapter in HF PEFT format, plus the tokenizer (rank 0; gathered under ZeRO-3)
    deepspeed/           the DeepSpeed engine state: LoRA weights, optimizer, scheduler (every rank its shard)
    trainer_state.json   step, epoch, position in the epoch, metrics (rank 0)
    probe.pt             logits of a fixed probe batch, to check an exported adapter against (rank 0)
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

ADAPTER_DIR = "adapter"
DEEPSPEED_DIR = "deepspeed"
STATE_FILE = "trainer_state.json"
PROBE_FILE = "probe.pt"
_DS_TAG = "state"


@dataclass
class TrainerState:
    """Where training stands: enough, with the DeepSpeed state, to continue exactly."""

    global_step: int = 0
    epoch: int = 0
    step_in_epoch: int = 0  # optimizer steps already taken in `epoch`
    done: bool = False
    initial_val_loss: float | None = None
    metrics: dict[str, Any] = field(default_factory=dict)
    fingerprint: str | None = None  # sha256 of the weight-determining settings (mentalglm.train.fingerprint)


def _lora_parameters(model: Any) -> list[Any]:
    return [p for n, p in model.named_parameters() if "lora_" in n]


def save_checkpoint(engine: Any, out_dir: Path, state: TrainerState, tokenizer: Any, rank: int,
                    zero3: bool, probe: dict[str, Any] | None = None) -> None:
    """Write this rank's share of a checkpoint to `out_dir` (a collective: every rank must call it)."""
    import torch

    engine.save_checkpoint(str(out_dir / DEEPSPEED_DIR), tag=_DS_TAG, exclude_frozen_parameters=True)
    peft_model = engine.module
    if zero3:
        import deepspeed

        # Gather the partitioned LoRA weights so the saved adapter holds the real, full tensors.
        with deepspeed.zero.GatheredParameters(_lora_parameters(peft_model), modifier_rank=None):
            if rank == 0:
                _save_adapter(peft_model, out_dir / ADAPTER_DIR, tokenizer)
    elif rank == 0:
        _save_adapter(peft_model, out_dir / ADAPTER_DIR, tokenizer)
    if rank == 0:
        (out_dir / STATE_FILE).write_text(json.dumps(asdict(state), indent=2), encoding="utf-8")
        if probe is not None:
            torch.save(probe, out_dir / PROBE_FILE)


def _save_adapter(peft_model: Any, path: Path, tokenizer: Any) -> None:
    from peft import get_peft_model_state_dict

    state = {k: v.detach().to("cpu").clone() for k, v in get_peft_model_state_dict(peft_model).items()}
    peft_model.save_pretrained(str(path), state_dict=state, safe_serialization=True)
    tokenizer.save_pretrained(str(path))


def load_checkpoint(engine: Any, ckpt_dir: Path) -> TrainerState:
    """Restore the engine (weights, optimizer, scheduler) from `ckpt_dir` and return the trainer state.

    Raises:
        RuntimeError: DeepSpeed found nothing to load (it returns no path instead of failing), which would
            otherwise continue from fresh weights at the checkpoint's step.
    """
    state = TrainerState(**json.loads((ckpt_dir / STATE_FILE).read_text(encoding="utf-8")))
    path, _ = engine.load_checkpoint(str(ckpt_dir / DEEPSPEED_DIR), tag=_DS_TAG, load_module_strict=False,
                                     load_optimizer_states=True, load_lr_scheduler_states=True)
    if path is None:
        raise RuntimeError(f"{ckpt_dir / DEEPSPEED_DIR}: DeepSpeed found no checkpoint files to load; refusing to "
                           f"continue from fresh weights at step {state.global_step}")
    return state


PROBE_SIZE = 2
PROBE_TOKENS = 24


def probe_logits(engine: Any, tokenizer: Any, device: Any) -> dict[str, Any]:
    """Logits of a fixed batch of synthetic token ids (never a real post: checkpoints must not hold post text)."""
    import torch

    special = set(tokenizer.all_special_ids)
    ordinary = torch.tensor([i for i in range(len(tokenizer)) if i not in special])
    generator = torch.Generator().manual_seed(0)
    input_ids = ordinary[torch.randint(len(ordinary), (PROBE_SIZE, PROBE_TOKENS), generator=generator)]
    attention_mask = torch.ones_like(input_ids)
    engine.eval()
    with torch.no_grad():
        logits = engine(input_ids=input_ids.to(device), attention_mask=attention_mask.to(device)).logits.float().cpu()
    engine.train()
    return {"input_ids": input_ids, "attention_mask": attention_mask, "logits": logits}
