"""Benchmark: stacked LoRA linear (op 4), forward + backward, time and peak memory.

Implementations: ``eager`` (cl_kernels.reference: the unfused three-matmul form), ``compiled``
(torch.compile of the reference), ``fused`` (the public op: Triton on CUDA; the reference on CPU,
where there is no C++ kernel) and ``base_gemm`` (``F.linear(x, W)`` alone with its input
gradient: the floor any fused CPU kernel would still pay, which is why there is none).
Gradients as in training: x and the new adapter trainable, base weight and old stack frozen.

Shapes: T5-large (d=1024, r_sum 112 stacked + r 8 new, 144 adapted layers: one layer timed) and
LLaMA-7B (d=4096, r_sum 56 + 8) in bf16 on CUDA with 8192 tokens. ``--device cpu`` (fp32) keeps
the widths and scales the tokens (1024 for T5-large, 256 for LLaMA-7B); the scale is written into
the results. Usage::

    python bench/bench_lora_linear.py --device cpu     # -> bench/results/lora_linear_cpu.json
    python bench/bench_lora_linear.py --device cuda    # -> bench/results/lora_linear_cuda.json
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _ops34 import environment, measure, run_worker, write_results

GPU_SHAPES = [
    {"model": "t5-large", "d": 1024, "r_sum": 112, "r": 8, "tokens": 8192},
    {"model": "llama-7b", "d": 4096, "r_sum": 56, "r": 8, "tokens": 8192},
]
CPU_SHAPES = [
    {"model": "t5-large", "d": 1024, "r_sum": 112, "r": 8, "tokens": 1024},
    {"model": "llama-7b", "d": 4096, "r_sum": 56, "r": 8, "tokens": 256},
]


def worker(spec: dict) -> dict:
    import cl_kernels
    from cl_kernels.reference import lora_linear as ref

    device = torch.device(spec["device"])
    dtype = getattr(torch, spec["dtype"])
    g = torch.Generator().manual_seed(0)
    d, n, r_sum, r = spec["d"], spec["tokens"], spec["r_sum"], spec["r"]

    def rnd(*shape, s=1.0):
        return (torch.randn(*shape, generator=g) * s).to(device)

    x = rnd(n, d).to(dtype).requires_grad_()
    w = rnd(d, d, s=d**-0.5).to(dtype)
    b = rnd(d, s=0.1).to(dtype)
    a_old, b_old = rnd(r_sum, d, s=d**-0.5), rnd(d, r_sum, s=0.1)
    a_new = rnd(r, d, s=d**-0.5).requires_grad_()
    b_new = rnd(d, r, s=0.1).requires_grad_()
    leaves = [x, a_new, b_new]
    impl = spec["impl"]
    args = (x, w, b, a_old, b_old, a_new, b_new, 4.0, spec["dropout"], True)
    if impl == "base_gemm":
        fn, args = (lambda x_, w_, b_: F.linear(x_, w_, b_)), (x, w, b)
        leaves = [x]
    elif impl == "compiled":
        fn = torch.compile(ref)
    elif impl == "eager":
        fn = ref
    else:
        fn = cl_kernels.lora_linear
    backend = "reference" if impl == "eager" else None
    gy = torch.randn(n, d, generator=g).to(device, dtype)

    def step() -> None:
        for leaf in leaves:
            leaf.grad = None
        with cl_kernels.use_backend(backend):
            y = fn(*args)
        y.backward(gy)

    chosen = cl_kernels._dispatch.select("lora_linear", device) if impl == "fused" else None
    return {**spec, **measure(step, device, spec["warmup"], spec["reps"]), "backend": chosen}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--dropout", type=float, default=0.1)
    parser.add_argument("--no-compile", action="store_true", help="skip torch.compile")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(worker(json.loads(args.worker))), flush=True)
        return
    cpu = args.device == "cpu"
    impls = ["base_gemm", "eager", "fused"] + ([] if args.no_compile else ["compiled"])
    rows = []
    for shape in CPU_SHAPES if cpu else GPU_SHAPES:
        for impl in impls:
            spec = {**shape, "impl": impl, "dtype": "float32" if cpu else "bfloat16"}
            spec.update(device=args.device, reps=args.reps, warmup=args.warmup)
            spec["dropout"] = args.dropout
            row = run_worker(__file__, spec)
            rows.append(row)
            ms = row.get("seconds", float("nan")) * 1e3
            mb = row.get("peak_bytes", float("nan")) / 2**20
            print(
                f"{shape['model']:9s} n={shape['tokens']:5d} {impl:9s} {ms:9.2f} ms {mb:8.1f} MiB "
                f"{row.get('error', '')[-200:]}",
                flush=True,
            )
    by = {(r["model"], r["impl"]): r.get("seconds") for r in rows}
    shares = {
        m["model"]: by[(m["model"], "base_gemm")] / by[(m["model"], "eager")]
        for m in (CPU_SHAPES if cpu else GPU_SHAPES)
        if by.get((m["model"], "base_gemm")) and by.get((m["model"], "eager"))
    }
    payload = {
        "op": "lora_linear",
        "environment": environment(torch.device(args.device)),
        "scale": "tokens 1024 (T5-large) / 256 (LLaMA-7B) instead of 8192; widths kept"
        if cpu
        else None,
        "base_gemm_share_of_eager": shares,
        "note": (
            "CPU: the fused entry point is the reference (no C++ kernel). base_gemm_share_of_eager "
            "is the fraction of the eager time that the base GEMM alone takes; a fused C++ kernel "
            "can at best remove the rest, so its ceiling is 1/share. The issue's goal (1.2x over "
            "the unfused form in bf16) is for an H100-class GPU and is not measured here."
            if cpu
            else "GPU shapes"
        ),
        "rows": rows,
    }
    print(f"wrote {write_results(f'lora_linear_{args.device}', payload)}")


if __name__ == "__main__":
    main()
