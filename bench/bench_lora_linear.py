"""Benchmark of the stacked LoRA linear (op 4), forward + backward of one adapted layer.

Variants: ``eager`` (cl_kernels.reference: the unfused three-matmul form), ``compiled``
(torch.compile of it), ``fused`` (the public op as dispatched: Triton on CUDA; on CPU the
reference, there is no C++ kernel) and ``base_gemm`` (``F.linear(x, W, b)`` alone with its input
gradient: the floor that any fused CPU kernel still pays; its share of the eager time bounds what
fusion could gain, which is why there is no C++ version). Training gradients: x and the new
adapter trainable, the base weight and the old stack frozen; dropout 0.1.

Shapes: T5-large (d = 1024, r_sum = 112 stacked + r = 8 new) and LLaMA-7B (d = 4096, r_sum = 56
+ 8), 8192 tokens in bf16 on CUDA; on CPU fp32 with 1024 (T5-large) / 256 (LLaMA-7B) tokens.

    python bench/bench_lora_linear.py [--device cpu|cuda] [--no-compile] [--quick]
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from common import Case, compiled, parse_args, run_case, write_results

import cl_kernels
from cl_kernels import reference


def _step(fn, args, leaves, gy):
    """One training step of ``fn``: forward and the gradients of ``leaves``."""

    def run() -> None:
        for leaf in leaves:
            leaf.grad = None
        fn(*args).backward(gy)

    return run


def main() -> None:
    opts = parse_args(__doc__.splitlines()[0])
    device = torch.device(opts.device)
    cuda = device.type == "cuda"
    shapes = [("t5-large", 1024, 112, 8192), ("llama-7b", 4096, 56, 8192)]
    if opts.quick:
        shapes, scale = [("tiny", 64, 16, 128)], {"quick": True}
    elif not cuda:
        shapes = [("t5-large", 1024, 112, 1024), ("llama-7b", 4096, 56, 256)]
        scale = {"tokens": "1024 (T5-large) and 256 (LLaMA-7B) instead of 8192"}
    else:
        scale = {}
    dtype = torch.bfloat16 if cuda else torch.float32
    gen = torch.Generator().manual_seed(0)

    def rnd(*shape, s=1.0, dt=torch.float32):
        return (torch.randn(*shape, generator=gen) * s).to(device, dt)

    rows = []
    for model, d, r_sum, n in shapes:
        x = rnd(n, d, dt=dtype).requires_grad_()
        w, b = rnd(d, d, s=d**-0.5, dt=dtype), rnd(d, s=0.1, dt=dtype)
        a_old, b_old = rnd(r_sum, d, s=d**-0.5), rnd(d, r_sum, s=0.1)
        a_new = rnd(8, d, s=d**-0.5).requires_grad_()
        b_new = rnd(d, 8, s=0.1).requires_grad_()
        gy = rnd(n, d, dt=dtype)
        args = (x, w, b, a_old, b_old, a_new, b_new, 4.0, 0.1, True)

        leaves = (x, a_new, b_new)
        variants = {
            "eager": _step(reference.lora_linear, args, leaves, gy),
            "fused": _step(cl_kernels.lora_linear, args, leaves, gy),
            "base_gemm": _step(F.linear, (x, w, b), (x,), gy),
        }
        if not opts.no_compile:
            variants["compiled"] = _step(compiled(reference.lora_linear), args, leaves, gy)
        case = Case(
            f"{model} d={d} r_sum={r_sum}+8 tokens={n}",
            shape={
                "model": model,
                "d": d,
                "r_sum": r_sum,
                "r": 8,
                "tokens": n,
                "dtype": str(dtype),
                "fused_backend": cl_kernels._dispatch.select("lora_linear", device),
            },
            scale=scale,
        )
        row = run_case(case, variants, device, opts.min_time)
        v = row["variants"]
        if "min_ms" in v["base_gemm"] and "min_ms" in v["eager"]:
            row["base_gemm_share_of_eager"] = v["base_gemm"]["min_ms"] / v["eager"]["min_ms"]
        rows.append(row)
    name = "lora_linear_quick" if opts.quick else "lora_linear"
    write_results(name, device, rows, opts.output_dir)


if __name__ == "__main__":
    main()
