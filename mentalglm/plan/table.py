"""The plan as one table. The plans of a config (one per stage, or a sweep's heaviest trial) are made by
`mentalglm.tune.planning`."""

from __future__ import annotations

from mentalglm.plan.hardware import GIB
from mentalglm.plan.report import Plan


def _si(value: float, unit: str = "FLOP") -> str:
    for scale, prefix in ((1e18, "E"), (1e15, "P"), (1e12, "T"), (1e9, "G"), (1e6, "M")):
        if value >= scale:
            return f"{value / scale:.2f} {prefix}{unit}"
    return f"{value:.0f} {unit}"


def _duration(seconds: float) -> str:
    if seconds < 1e-3:
        return f"{seconds * 1e6:.1f} µs"
    if seconds < 1:
        return f"{seconds * 1e3:.1f} ms"
    if seconds < 120:
        return f"{seconds:.1f} s"
    hours, rest = divmod(int(round(seconds)), 3600)
    return f"{hours} h {rest // 60:02d} min" if hours else f"{rest // 60} min {rest % 60:02d} s"


def format_plan(plan: Plan, previous: Plan | None = None) -> str:
    """The plan as a table: model, run, memory per GPU by term, FLOPs per step, steps and wall time. After a
    `previous` plan with the same model, settings and GPU, only the data lines are repeated."""
    if previous is not None and (previous.shape, previous.settings, previous.gpu) == (plan.shape, plan.settings,
                                                                                      plan.gpu):
        return "\n".join([f"plan: {plan.name}", "  model, memory and compute as above", *_data_lines(plan)])
    shape, s, m, cfg = plan.shape, plan.settings, plan.memory, plan.cfg
    ckpt = s.checkpointing or "off"
    lines = [
        f"plan: {plan.name}",
        f"  model      {shape.architecture} from {shape.source}",
        f"  params     {shape.total_params:,} base (frozen) + {shape.lora_params:,} LoRA "
        f"(r={cfg.lora.r} on {', '.join(shape.lora_targets)}; {100 * shape.lora_params / shape.total_params:.3f} %)",
        f"  run        {s.world} worker(s), ZeRO-{s.zero.stage}"
        f"{' + optimizer offload' if s.zero.offload_optimizer else ''}"
        f"{' + parameter offload' if s.zero.offload_param and s.zero.stage == 3 else ''}, "
        f"{'bf16' if s.bf16 else 'fp32'}, micro_batch_size {s.micro_batch} x max_seq_len {s.seq_len}, grad_accum "
        f"{cfg.train.grad_accum}, activation checkpointing {ckpt}",
    ]
    if cfg.scaling.use_gpu:
        gpu = f"{plan.gpu.name} ({plan.gpu.memory_gib:g} GiB) from {plan.gpu_source}" if plan.gpu else \
            f"unknown ({plan.gpu_source}): set plan.gpu"
        lines.append(f"  GPU        {gpu}")
    else:
        lines.append("  GPU        none (scaling.use_gpu: false): memory below is per worker process, in host RAM")
    lines.append(f"  {'memory per worker':<46}{'GiB':>9}")
    for term, value in m.terms.items():
        label = term if term != "activations" else f"activations (checkpointing {ckpt})"
        lines.append(f"    {label:<44}{value / GIB:>9.2f}")
    lines.append(f"    {'total':<44}{m.total / GIB:>9.2f}")
    other = "on" if s.checkpointing is None else "off"
    lines.append(f"    {f'(activations, checkpointing {other}':<44}{m.activations_other / GIB:>9.2f})")
    if m.cpu_terms:
        cpu = ", ".join(f"{k} {v / GIB:.2f}" for k, v in m.cpu_terms.items())
        lines.append(f"    in CPU memory per worker: {cpu} GiB")
    if plan.usable_bytes is not None:
        usable = plan.usable_bytes / GIB
        verdict = f"fits, {usable - m.total / GIB:.1f} GiB to spare" if plan.fits else \
            f"DOES NOT FIT: {m.total / GIB - usable:.1f} GiB over"
        lines.append(f"    {'usable':<44}{usable:>9.2f}  ({plan.gpu.memory_gib:g} less plan.reserve_gib "
                     f"{cfg.plan.reserve_gib:g}): {verdict}")
    model_step, recompute = plan.step_flops()
    lines += [
        "  compute    (model FLOPs/token = 4 N + 6 N_lora + 12 L H Q T; see mentalglm/plan/compute.py)",
        f"    per optimizer step               {_si(model_step)} model, {_si(model_step + recompute)} with recompute "
        f"({plan.step_tokens():,} tokens: {s.micro_batch} x {s.seq_len} x {cfg.train.grad_accum} x {s.world})",
    ]
    step_s = plan.seconds(model_step)
    if step_s is not None:
        lines.append(f"    step time at MFU {cfg.plan.mfu:g}            {_duration(step_s)} "
                     f"({plan.gpu.name} bf16 peak {plan.gpu.bf16_tflops:g} TFLOP/s x {s.world})")
    return "\n".join(lines + _data_lines(plan))


def _data_lines(plan: Plan) -> list[str]:
    if plan.data is None:
        return [f"  data       {plan.data_note}"]
    d, mfu = plan.data, plan.cfg.plan.mfu
    lines = [f"  data       {d.examples:,} training examples, {d.tokens:,} tokens ({d.how}), "
             f"mean {d.tokens / max(1, d.examples):.0f} per example",
             f"    steps                            {plan.total_steps:,} ({plan.steps_per_epoch:,} per epoch)"]
    if not plan.total_steps:
        s, train = plan.settings, plan.cfg.train
        lines.append(f"    {d.examples:,} examples give no optimizer step with {s.world} workers x micro_batch_size "
                     f"{s.micro_batch} x grad_accum {train.grad_accum}: train would refuse to start")
        return lines
    if plan.run_model_flops is not None:
        run_s = plan.seconds(plan.run_model_flops)
        when = f", {_duration(run_s)} at MFU {mfu:g}" if run_s is not None else ""
        lines.append(f"    run                              {_si(plan.run_model_flops)} model{when}")
    return lines
