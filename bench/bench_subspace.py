"""Benchmark of the subspace penalties (forward + backward, as in a training step).

Shapes: T5-large (d = 1024, 144 adapted layers: q and v of 24 encoder and 24x2 decoder attention
blocks, r_sum = 112 old rows, r = 8) and LLaMA-7B (d = 4096, 64 adapted layers). On CPU the number
of layers is scaled down (written to the results as ``scale``). Variants: the eager per-layer
reference, ``torch.compile`` of it, and the fused op (``cl_kernels``' auto dispatch: Triton on
CUDA, C++ on CPU).

    python bench/bench_subspace.py [--device cpu|cuda] [--no-compile] [--quick]
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from common import Case, compiled, parse_args, run_case, write_results

import cl_kernels
from cl_kernels import reference

MODELS = {"t5-large": {"layers": 144, "d": 1024}, "llama-7b": {"layers": 64, "d": 4096}}
R_OLD, R_NEW = 112, 8
# Fraction of the layers kept on CPU (shapes of a layer are unchanged), per op and model.
CPU_LAYERS = {
    ("orthogonality", "t5-large"): 0.25,
    ("orthogonality", "llama-7b"): 0.25,
    ("l2", "t5-large"): 1.0,
    ("nlora_ab", "t5-large"): 1.0,
    ("nlora_ab", "llama-7b"): 0.25,
    ("nlora_delta_w", "t5-large"): 1 / 6,
    ("nlora_delta_w", "llama-7b"): 1 / 16,
}


def _step(fn: Callable[..., torch.Tensor], inputs: list[list[torch.Tensor]], *args: Any):
    leaves = [t for group in inputs for t in group if t.requires_grad]

    def run() -> None:
        value = fn(*inputs, *args)
        value.backward()
        for t in leaves:
            t.grad = None

    return run


def _variants(public, ref, inputs, args, use_compile, direct=None):
    """eager reference, compiled reference, the public op; ``direct``: a backend's function
    called without the dispatcher (to measure a kernel the dispatcher does not use)."""
    out = {"eager": _step(ref, inputs, *args)}
    if use_compile:
        out["compiled"] = _step(compiled(ref), inputs, *args)
    out["fused"] = _step(public, inputs, *args)
    if direct is not None:
        out[direct[0]] = _step(direct[1], inputs, *args)
    return out


def _cpp_nlora_ab(device: torch.device):
    """On CPU the C++ 'ab' kernel, measured although the dispatcher sends 'ab' to the reference
    (this measurement is why)."""
    if device.type != "cpu":
        return None
    try:
        from cl_kernels.cpp.subspace import nlora_penalty
    except ImportError:
        return None
    return ("cpp_dropped", nlora_penalty)


def main() -> None:
    opts = parse_args(__doc__.splitlines()[0])
    device = torch.device(opts.device)
    dtype = torch.bfloat16 if device.type == "cuda" else torch.float32
    gen = torch.Generator(device="cpu").manual_seed(0)

    def randn(*shape, grad=False):
        t = torch.randn(*shape, generator=gen).to(device=device, dtype=dtype)
        return t.requires_grad_(grad)

    def layers(op: str, model: str) -> tuple[int, dict]:
        full = MODELS[model]["layers"]
        if opts.quick:
            return 2, {"layers": 2 / full}
        frac = 1.0 if device.type == "cuda" else CPU_LAYERS[(op, model)]
        return max(1, round(full * frac)), {"layers": frac}

    rows = []
    for model in ("t5-large", "llama-7b"):
        d = 64 if opts.quick else MODELS[model]["d"]
        n, scale = layers("orthogonality", model)
        old = [randn(R_OLD, d) for _ in range(n)]
        new = [randn(R_NEW, d, grad=True) for _ in range(n)]
        case = Case(
            f"orthogonality_l1/{model}",
            {"layers": n, "d": d, "r_old": R_OLD, "r_new": R_NEW, "dtype": str(dtype)},
            scale,
        )
        rows.append(
            run_case(
                case,
                _variants(
                    lambda o, w, *a: cl_kernels.orthogonality_penalty(o, w, *a),
                    lambda o, w, *a: reference.orthogonality_penalty(o, w, *a),
                    [old, new],
                    ["l1"],
                    not opts.no_compile,
                ),
                device,
                opts.min_time,
            )
        )
        del old, new

        if model == "t5-large":
            n, scale = layers("l2", model)
            params = [randn(R_NEW, d, grad=True) for _ in range(n)]
            params += [randn(d, R_NEW, grad=True) for _ in range(n)]
            case = Case(
                f"l2/{model}", {"tensors": 2 * n, "shape": [R_NEW, d], "dtype": str(dtype)}, scale
            )
            rows.append(
                run_case(
                    case,
                    _variants(
                        cl_kernels.l2_penalty,
                        reference.l2_penalty,
                        [params],
                        [],
                        not opts.no_compile,
                    ),
                    device,
                    opts.min_time,
                )
            )
            del params

        for mode in ("ab", "delta_w"):
            n, scale = layers(f"nlora_{mode}", model)
            a = [randn(R_NEW, d, grad=True) for _ in range(n)]
            b = [randn(d, R_NEW, grad=True) for _ in range(n)]
            case = Case(
                f"nlora_{mode}/{model}",
                {"layers": n, "d_in": d, "d_out": d, "r": R_NEW, "dtype": str(dtype)},
                scale,
            )
            rows.append(
                run_case(
                    case,
                    _variants(
                        cl_kernels.nlora_penalty,
                        reference.nlora_penalty,
                        [a, b],
                        [mode],
                        not opts.no_compile,
                        _cpp_nlora_ab(device) if mode == "ab" else None,
                    ),
                    device,
                    opts.min_time,
                )
            )
            del a, b
    name = "subspace_quick" if opts.quick else "subspace"
    write_results(name, device, rows, opts.output_dir)


if __name__ == "__main__":
    main()
