"""Benchmark of the Fisher/EWC ops over a whole model's parameter list.

Shapes: the parameter lists of T5-large (24 + 24 blocks, d = 1024, d_ff = 2816, vocab 32128) and
LLaMA-7B (32 blocks, d = 4096, d_ff = 11008, vocab 32000), float32 Fisher, parameters in bfloat16
on CUDA and float32 on CPU. On CPU (and for LLaMA-7B on CUDA, whose four model-sized float32
buffers would not fit next to each other) the number of blocks is scaled down and the embedding
rows with it, written to the results as ``scale``. Reported: time, peak extra memory and the
achieved bandwidth (bytes read + written per call). ``fisher_accumulate`` and ``fisher_merge``
run in place; ``ewc_penalty`` is forward + backward.

    python bench/bench_fisher.py [--device cpu|cuda] [--no-compile] [--quick]
"""

from __future__ import annotations

import torch
from common import Case, compiled, parse_args, run_case, write_results

import cl_kernels
from cl_kernels import reference


def t5_large(blocks: float) -> list[tuple[int, ...]]:
    d, ff, vocab = 1024, 2816, 32128
    enc = round(24 * blocks)
    dec = max(1, round(24 * blocks))
    shapes: list[tuple[int, ...]] = [(max(1, round(vocab * blocks)), d)]
    for _ in range(enc):
        shapes += [(d, d)] * 4 + [(ff, d), (ff, d), (d, ff)] + [(d,)] * 2
    for _ in range(dec):
        shapes += [(d, d)] * 8 + [(ff, d), (ff, d), (d, ff)] + [(d,)] * 3
    return shapes


def llama_7b(blocks: float) -> list[tuple[int, ...]]:
    d, ff, vocab = 4096, 11008, 32000
    n = max(1, round(32 * blocks))
    rows = max(1, round(vocab * blocks))
    shapes: list[tuple[int, ...]] = [(rows, d)]
    for _ in range(n):
        shapes += [(d, d)] * 4 + [(ff, d), (ff, d), (d, ff)] + [(d,)] * 2
    return [*shapes, (d,), (rows, d)]


def main() -> None:
    opts = parse_args(__doc__.splitlines()[0])
    device = torch.device(opts.device)
    pdtype = torch.bfloat16 if device.type == "cuda" else torch.float32
    if opts.quick:
        scales = {"t5-large": 1 / 48}
    elif device.type == "cuda":
        scales = {"t5-large": 1.0, "llama-7b": 0.25}
    else:  # one LLaMA-7B block alone is 200M parameters: five such buffers is too much here
        scales = {"t5-large": 1 / 24}
    gen = torch.Generator().manual_seed(0)

    def make(shapes, dtype, positive=False):
        out = []
        for s in shapes:
            t = torch.rand(s, generator=gen) if positive else torch.randn(s, generator=gen)
            out.append(t.to(device=device, dtype=dtype))
        return out

    rows = []
    for model, build in (("t5-large", t5_large), ("llama-7b", llama_7b)):
        if model not in scales:
            print(f"{model}: skipped on {device.type}")
            rows.append({"name": f"*/{model}", "skipped": f"too large for {device.type}"})
            continue
        shapes = build(scales[model])
        numel = sum(torch.Size(s).numel() for s in shapes)
        shape = {"tensors": len(shapes), "numel": numel, "param_dtype": str(pdtype)}
        scale = {"blocks": scales[model]}
        fishers = make(shapes, torch.float32, positive=True)
        grads = make(shapes, pdtype)
        psize = grads[0].element_size()

        def acc(fn, fishers=fishers, grads=grads):
            return lambda: fn(fishers, grads, 1e-3)

        variants = {"eager": acc(reference.fisher_accumulate)}
        if not opts.no_compile:
            variants["compiled"] = acc(compiled(reference.fisher_accumulate))
        variants["fused"] = acc(cl_kernels.fisher_accumulate)
        if device.type == "cpu":
            try:  # measured although not dispatched to: this measurement is why
                from cl_kernels.cpp.fisher import fisher_accumulate as cpp_accumulate

                variants["cpp_dropped"] = acc(cpp_accumulate)
            except ImportError:
                pass
        case = Case(f"fisher_accumulate/{model}", shape, scale, numel * (4 + psize + 4))
        rows.append(run_case(case, variants, device, opts.min_time))

        f_new = make(shapes, torch.float32, positive=True)

        def merge(fn, f_new=f_new, fishers=fishers):
            return lambda: fn(f_new, fishers, 2.0)

        variants = {"eager": merge(reference.fisher_merge)}
        if not opts.no_compile:
            variants["compiled"] = merge(compiled(reference.fisher_merge))
        variants["fused"] = merge(cl_kernels.fisher_merge)
        rows.append(
            run_case(
                Case(f"fisher_merge/{model}", shape, scale, numel * 12),
                variants,
                device,
                opts.min_time,
            )
        )
        del f_new, grads

        params = [p.requires_grad_() for p in make(shapes, pdtype)]
        anchors = make(shapes, pdtype)

        def ewc(fn, params=params, anchors=anchors, fishers=fishers):
            def run():
                fn(params, anchors, fishers, 5000.0).backward()
                for p in params:
                    p.grad = None

            return run

        variants = {"eager": ewc(reference.ewc_penalty)}
        if not opts.no_compile:
            variants["compiled"] = ewc(compiled(reference.ewc_penalty))
        variants["fused"] = ewc(cl_kernels.ewc_penalty)
        # forward reads p, a, F; backward reads them again and writes the gradient
        moved = numel * (2 * (2 * psize + 4) + psize)
        case = Case(f"ewc_penalty/{model}", shape, scale, moved)
        rows.append(run_case(case, variants, device, opts.min_time))
        del params, anchors, fishers
    name = "fisher_quick" if opts.quick else "fisher"
    write_results(name, device, rows, opts.output_dir)


if __name__ == "__main__":
    main()
