"""End-to-end benchmark: one O-LoRA (and N-LoRA) training step of the library against the released
recipe rebuilt in ``released_recipe.py``.

A step is forward, backward, the method's penalty and an AdamW step, on a T5 with adapters on
every ``q``/``v`` projection (r = 8, alpha = 32, dropout 0.1) and ``n_old`` earlier tasks stacked
(r_sum = 8 n_old). Both sides start from the same random T5 weights, the same adapters (earlier
tasks and the current one, as if mid-task) and the same batch, on the same device, in one run:

- ``library``: ``cl_methods.build_method("olora" | "nlora")`` through its public API in a plain loop
  (``prepare``, ``on_task_start``/``on_task_end`` to stack the earlier tasks, ``penalty``,
  ``trainable_parameters``), so ``cl_kernels`` serves ``lora_linear`` and the penalties;
- ``released``: the authors' two-branch ``nn.Linear`` adapters and their per-step parameter walks
  (O-LoRA: O(P^2) orthogonality loop, L2 loop, ``.item()`` logging of both terms and the loss;
  N-LoRA: the L1 of ``loranew_A @ loranew_B``).

Hyperparameters: O-LoRA lambda_1 = 0.5, lambda_2 = 0.1 (the released long-sequence script's
values once tasks are stacked; with lambda_2 = 0 the library would skip the L2 term); N-LoRA
lambda_1 = 0.4 (``ab``, the released form); AdamW lr 1e-3. Before timing, both sides compute
the loss and the gradient of the current adapters in eval mode (no dropout) and must agree;
the values are recorded.

Shapes: T5-large (24 + 24 blocks, d_model 1024, 16 heads, d_ff 4096, vocab 32128) in bf16 at
batch 8 x 512 source + 50 target tokens (the released max_target_length) on CUDA, with 4 and 14
earlier tasks. On the CPU the model keeps T5-large's 24 + 24 blocks and vocabulary (so the
per-step parameter walks see the real number of parameters) at d_model 128 / d_ff 512 /
2 heads, fp32, batch 2 x 64 + 16 (a few minutes on 2 shared cores). ``--quick``: a 2 + 2 block
toy, for smoke tests.

Threads: one on the CPU unless ``--threads`` says otherwise. On the shared 2-core machine where
the CPU results were taken, other processes kept the cores oversubscribed, and with two threads
every parallel region of a step waited for time slices at its barrier (steps took 5-20x longer
and varied as much); one thread measures the work, the same for both sides.

Timing: the variants run in turns (one step each per round) for ``--steps`` rounds after one
warm-up step; tokens/s = batch x (source + target) / step time, from the minimum (the median is
recorded too). Peak memory: the extra memory at the peak of one more step over what was held
before it (CUDA allocator peak; CPU peak resident set, see common.py), plus the resident model
and optimizer state (parameters, buffers, AdamW moments).

    python bench/bench_e2e.py [--device cpu|cuda] [--quick] [--steps N]
"""

from __future__ import annotations

import copy
import gc
import statistics
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

import released_recipe as released
import torch
from common import parse_args, peak_memory_mib, sync, write_results
from transformers import T5Config, T5ForConditionalGeneration

from cl_kernels import use_backend
from cl_methods import TaskContext, build_method
from cl_methods.adapters import stacked_lora_layers

R, ALPHA, DROPOUT, LR = 8, 32.0, 0.1, 1e-3
OLORA_LAMBDAS = (0.5, 0.1)
NLORA_LAMBDA = 0.4


@dataclass
class Shape:
    name: str
    layers: int
    d_model: int
    d_ff: int
    heads: int
    d_kv: int
    vocab: int
    batch: int
    source: int
    target: int
    dtype: str
    old_tasks: tuple[int, ...]

    @property
    def tokens(self) -> int:
        return self.batch * (self.source + self.target)


SHAPES = {
    "cuda": Shape("t5-large", 24, 1024, 4096, 16, 64, 32128, 8, 512, 50, "bfloat16", (4, 14)),
    "cpu": Shape(
        "t5-large blocks and vocabulary; width, heads, batch and lengths scaled down",
        *(24, 128, 512, 2, 64, 32128, 2, 64, 16, "float32", (4, 14)),
    ),
    "quick": Shape("toy (smoke test)", 2, 32, 64, 4, 8, 300, 2, 16, 4, "float32", (2,)),
}


def base_model(shape: Shape, device: torch.device) -> T5ForConditionalGeneration:
    """The random T5 both sides start from (initialised on ``device``)."""
    torch.manual_seed(0)
    config = T5Config(
        vocab_size=shape.vocab,
        d_model=shape.d_model,
        d_ff=shape.d_ff,
        d_kv=shape.d_kv,
        num_heads=shape.heads,
        num_layers=shape.layers,
        num_decoder_layers=shape.layers,
        dropout_rate=0.1,
        decoder_start_token_id=0,
    )
    with device:
        model = T5ForConditionalGeneration(config)
    return model.to(dtype=getattr(torch, shape.dtype))


def make_batch(shape: Shape, device: torch.device) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(1)
    ids = torch.randint(1, shape.vocab, (shape.batch, shape.source), generator=g)
    labels = torch.randint(1, shape.vocab, (shape.batch, shape.target), generator=g)
    batch = {"input_ids": ids, "attention_mask": torch.ones_like(ids), "labels": labels}
    return {k: v.to(device) for k, v in batch.items()}


@torch.no_grad()
def _as_if_trained(model: torch.nn.Module, g: torch.Generator) -> None:
    """Give the current adapters of every layer trained-looking values (B != 0)."""
    for layer in stacked_lora_layers(model).values():
        a, b = layer.lora_A, layer.lora_B
        bound = a.shape[1] ** -0.5
        a.copy_(((torch.rand(a.shape, generator=g) * 2 - 1) * bound).to(a))
        b.copy_((torch.randn(b.shape, generator=g) * 0.02).to(b))


def library_side(method_name: str, base: torch.nn.Module, n_old: int):
    """The library's model, method and optimizer: ``n_old`` tasks trained and stacked through
    the method's hooks, then the current task started (mid-task adapter values)."""
    config = {"lambda_1": NLORA_LAMBDA}
    if method_name == "olora":
        config = {"lambda_1": OLORA_LAMBDAS[0], "lambda_2": OLORA_LAMBDAS[1]}
    config.update(r=R, alpha=ALPHA, dropout=DROPOUT)
    method = build_method(method_name, config)
    model = method.prepare(copy.deepcopy(base))
    g = torch.Generator().manual_seed(2)
    for k in range(n_old):
        task = TaskContext(index=k, name=f"earlier-{k}")
        method.on_task_start(task, model)
        _as_if_trained(model, g)
        method.on_task_end(task, model)
    method.on_task_start(TaskContext(index=n_old, name="current"), model)
    _as_if_trained(model, g)
    optimizer = torch.optim.AdamW(method.trainable_parameters(model), lr=LR)
    return model.train(), method, optimizer


@torch.no_grad()
def released_side(base: torch.nn.Module, library_model: torch.nn.Module, n_old: int):
    """The released recipe's model holding the very same adapters, and its optimizer."""
    wrapped = released.attach_released_lora(
        copy.deepcopy(base), ("q", "v"), r=R, r_sum=R * n_old, alpha=ALPHA, dropout=DROPOUT
    )
    mine = stacked_lora_layers(library_model)
    theirs = released.released_lora_layers(wrapped)
    if set(mine) != set(theirs):
        raise RuntimeError(f"adapted layers differ: {sorted(set(mine) ^ set(theirs))[:4]}")
    for name, layer in mine.items():
        rel = theirs[name]
        rel.lora_A[released.ADAPTER].weight.copy_(layer.lora_A_old)
        rel.lora_B[released.ADAPTER].weight.copy_(layer.lora_B_old)
        rel.loranew_A[released.ADAPTER].weight.copy_(layer.lora_A)
        rel.loranew_B[released.ADAPTER].weight.copy_(layer.lora_B)
    params = [p for p in wrapped.parameters() if p.requires_grad]
    return wrapped.train(), torch.optim.AdamW(params, lr=LR)


def library_loss(model, method, batch) -> torch.Tensor:
    loss = model(**batch).loss
    penalty = method.penalty(model)
    return loss if penalty is None else loss + penalty


def released_loss(method_name: str, wrapped, batch, log: bool = True) -> torch.Tensor:
    if method_name == "olora":
        return released.olora_loss(wrapped, batch, *OLORA_LAMBDAS, log=log)
    return released.nlora_loss(wrapped, batch, NLORA_LAMBDA)


def step_fn(loss_fn: Callable[[], torch.Tensor], optimizer) -> Callable[[], None]:
    def step() -> None:
        loss_fn().backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    return step


def agreement(method_name, lib, method, wrapped, batch, dtype: torch.dtype) -> dict[str, Any]:
    """Loss and gradient of the current adapters on both sides in eval mode (no dropout); the
    gradients are compared in relative Frobenius norm over all adapters (an O-LoRA entry of
    A_old A_new^T within rounding of 0 may take the other sign of the L1's subgradient)."""
    lib.eval()
    wrapped.eval()
    lib_loss = library_loss(lib, method, batch)
    rel_loss = released_loss(method_name, wrapped, batch, log=False)
    lib_loss.backward()
    rel_loss.backward()
    mine = stacked_lora_layers(lib)
    theirs = released.released_lora_layers(wrapped)
    diff = norm = 0.0
    for name, layer in mine.items():
        for got, want in (
            (layer.lora_A.grad, theirs[name].loranew_A[released.ADAPTER].weight.grad),
            (layer.lora_B.grad, theirs[name].loranew_B[released.ADAPTER].weight.grad),
        ):
            diff += (got.float() - want.float()).square().sum().item()
            norm += want.float().square().sum().item()
    grad_diff = (diff / max(norm, 1e-30)) ** 0.5
    for p in list(lib.parameters()) + list(wrapped.parameters()):
        p.grad = None
    lib.train()
    wrapped.train()
    out = {
        "library_loss": lib_loss.item(),
        "released_loss": rel_loss.item(),
        "adapter_grad_rel_diff": grad_diff,
    }
    rel_diff = abs(out["library_loss"] - out["released_loss"]) / abs(out["released_loss"])
    out["loss_rel_diff"] = rel_diff
    tol = 1e-4 if dtype == torch.float32 else 3e-2
    out["agree"] = rel_diff < tol and grad_diff < 100 * tol
    if not out["agree"]:
        raise RuntimeError(f"library and released recipe disagree before timing: {out}")
    return out


def resident_mib(model: torch.nn.Module, optimizer: torch.optim.Optimizer) -> float:
    """Parameters, buffers and optimizer state held between steps."""
    seen, total = set(), 0
    tensors = [*model.parameters(), *model.buffers()]
    for state in optimizer.state.values():
        tensors += [v for v in state.values() if isinstance(v, torch.Tensor)]
    for t in tensors:
        if t.data_ptr() not in seen:
            seen.add(t.data_ptr())
            total += t.numel() * t.element_size()
    return total / 2**20


def measure(
    steps: dict[str, Callable[[], None]], rounds: int, device: torch.device
) -> dict[str, dict[str, Any]]:
    """One warm-up step each, then ``rounds`` rounds of one step per variant (in turns, so that
    load from other processes hits both alike, the order reversed every other round); wall-clock
    milliseconds per step, and on the CPU the process's CPU time per step too (less sensitive to
    other processes on a shared machine, but it counts OpenMP threads spinning at barriers)."""
    times: dict[str, list[float]] = {name: [] for name in steps}
    cpu: dict[str, list[float]] = {name: [] for name in steps}
    for fn in steps.values():
        fn()
        sync(device)
    order = list(steps.items())
    for i in range(rounds):
        for name, fn in order if i % 2 == 0 else order[::-1]:
            c0, t0 = time.process_time(), time.perf_counter()
            fn()
            sync(device)
            times[name].append((time.perf_counter() - t0) * 1e3)
            cpu[name].append((time.process_time() - c0) * 1e3)
    out = {}
    for name, ts in times.items():
        out[name] = {"min_ms": min(ts), "median_ms": statistics.median(ts), "steps": len(ts)}
        out[name]["all_ms"] = [round(t, 3) for t in ts]
        if device.type == "cpu":
            out[name]["cpu_min_ms"] = min(cpu[name])
    return out


def penalty_ms(method_name, lib, method, wrapped, device, reps: int = 5) -> dict[str, float]:
    """The penalty alone (value, the released logging of its terms, and backward), minimum
    milliseconds over ``reps``: the library as dispatched, the library with cl_kernels forced to
    its PyTorch reference, and the released walks."""

    def library() -> None:
        method.penalty(lib).backward()

    def library_reference() -> None:
        with use_backend("reference"):
            library()

    def release() -> None:
        if method_name == "olora":
            orth, l2 = released.olora_penalties(wrapped)
            released.LOG.info(f"orthogonal_loss: {orth.item()}; l2_loss: {l2.item()}")
            total = orth * OLORA_LAMBDAS[0] + l2 * OLORA_LAMBDAS[1]
        else:
            total = released.nlora_penalty(wrapped) * NLORA_LAMBDA
        total.backward()

    out = {}
    params = [*lib.parameters(), *wrapped.parameters()]
    for name, fn in (("library", library), ("library_reference_kernels", library_reference)):
        out[name] = _min_ms(fn, reps, device, params)
    out["released"] = _min_ms(release, reps, device, params)
    return out


def _min_ms(fn: Callable[[], None], reps: int, device, params) -> float:
    times = []
    for _ in range(reps + 1):  # the first call warms up
        t0 = time.perf_counter()
        fn()
        sync(device)
        times.append((time.perf_counter() - t0) * 1e3)
        for p in params:
            p.grad = None
    return min(times[1:])


def run_case(
    method_name: str, shape: Shape, base, batch, n_old: int, device, rounds: int
) -> dict[str, Any]:
    dtype = getattr(torch, shape.dtype)
    lib, method, lib_opt = library_side(method_name, base, n_old)
    wrapped, rel_opt = released_side(base, lib, n_old)
    check = agreement(method_name, lib, method, wrapped, batch, dtype)
    penalty = penalty_ms(method_name, lib, method, wrapped, device)
    steps = {
        "library": step_fn(lambda: library_loss(lib, method, batch), lib_opt),
        "released": step_fn(lambda: released_loss(method_name, wrapped, batch), rel_opt),
    }
    variants = measure(steps, rounds, device)
    resident = {"library": resident_mib(lib, lib_opt), "released": resident_mib(wrapped, rel_opt)}
    for name, fn in steps.items():
        v = variants[name]
        v["tokens_per_s"] = shape.tokens / (v["min_ms"] / 1e3)
        v["tokens_per_s_median"] = shape.tokens / (v["median_ms"] / 1e3)
        v["peak_step_mib"] = peak_memory_mib(fn, device)
        v["resident_mib"] = resident[name]
        if v["peak_step_mib"] is not None:
            v["peak_total_mib"] = v["peak_step_mib"] + v["resident_mib"]
        gc.collect()
    lib_v, rel_v = variants["library"], variants["released"]
    row: dict[str, Any] = {
        "method": method_name,
        "old_tasks": n_old,
        "r_sum": R * n_old,
        "adapted_layers": len(stacked_lora_layers(lib)),
        "tokens_per_step": shape.tokens,
        "check": check,
        "penalty_only_ms": penalty,
        "variants": variants,
        "speedup": lib_v["tokens_per_s"] / rel_v["tokens_per_s"],
        "speedup_median": lib_v["tokens_per_s_median"] / rel_v["tokens_per_s_median"],
    }
    # per round, the two steps ran back to back: the median of their ratios cancels slow drifts
    # of the machine's load that the minimum and the median of each side do not
    pairs = zip(rel_v["all_ms"], lib_v["all_ms"], strict=True)
    row["speedup_paired_median"] = statistics.median(r / lib for r, lib in pairs)
    if "cpu_min_ms" in lib_v:
        row["speedup_cpu_time"] = rel_v["cpu_min_ms"] / lib_v["cpu_min_ms"]
    if lib_v.get("peak_total_mib") and rel_v.get("peak_total_mib"):
        row["peak_total_ratio"] = lib_v["peak_total_mib"] / rel_v["peak_total_mib"]
        row["peak_step_ratio"] = lib_v["peak_step_mib"] / max(rel_v["peak_step_mib"], 1e-9)
    print(_format(row), flush=True)
    return row


def _format(row: dict[str, Any]) -> str:
    pen = ", ".join(f"{k} {v:.1f} ms" for k, v in row["penalty_only_ms"].items())
    lines = [f"{row['method']} with {row['old_tasks']} earlier tasks (r_sum {row['r_sum']}):"]
    lines.append(f"  penalty alone: {pen}")
    for name, v in row["variants"].items():
        mem = v.get("peak_total_mib")
        mem_s = "n/a" if mem is None else f"{mem:.0f} MiB (step {v['peak_step_mib']:.0f})"
        lines.append(
            f"  {name:9s} {v['min_ms']:9.1f} ms/step (median {v['median_ms']:.1f})  "
            f"{v['tokens_per_s']:9.0f} tokens/s  peak {mem_s}"
        )
    mem_ratio = row.get("peak_total_ratio")
    cpu = f", CPU time {row['speedup_cpu_time']:.2f}x" if "speedup_cpu_time" in row else ""
    lines.append(
        f"  library/released: {row['speedup']:.2f}x tokens/s (median {row['speedup_median']:.2f}x,"
        f" paired {row['speedup_paired_median']:.2f}x{cpu})"
        + (f", {mem_ratio:.2f}x peak memory" if mem_ratio else "")
    )
    return "\n".join(lines)


def _extra(parser) -> None:
    parser.add_argument("--steps", type=int, help="timed steps per variant (default 5, quick 2)")
    parser.add_argument(
        "--methods", default="olora,nlora", help="comma-separated: olora, nlora (default both)"
    )
    parser.add_argument(
        "--threads", type=int, help="torch threads (default: 1 on the CPU, see the docstring)"
    )


def main() -> None:
    opts = parse_args(__doc__.splitlines()[0], _extra)
    device = torch.device(opts.device)
    if opts.threads or device.type == "cpu":
        torch.set_num_threads(opts.threads or 1)
    shape = SHAPES["quick" if opts.quick else device.type]
    rounds = opts.steps or (2 if opts.quick else 5)
    base = base_model(shape, device)
    batch = make_batch(shape, device)
    rows = []
    for method_name in opts.methods.split(","):
        for n_old in shape.old_tasks:
            rows.append(run_case(method_name.strip(), shape, base, batch, n_old, device, rounds))
            gc.collect()
            if device.type == "cuda":
                torch.cuda.empty_cache()
    name = "e2e_quick" if opts.quick else "e2e"
    summary = {"shape": asdict(shape), "r": R, "alpha": ALPHA, "dropout": DROPOUT, "lr": LR}
    summary["olora_lambdas"], summary["nlora_lambda"] = OLORA_LAMBDAS, NLORA_LAMBDA
    summary["timed_steps"] = rounds
    write_results(name, device, rows, opts.output_dir, {"settings": summary})


if __name__ == "__main__":
    main()
