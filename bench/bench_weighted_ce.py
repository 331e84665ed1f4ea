"""Benchmark of the token-weighted cross-entropy (op 3), forward + backward.

Two forms: ``head`` (hidden states and LM-head weight in, gradients to both: the fused op never
materialises the (N, V) logits) and ``logits`` (``weighted_cross_entropy_from_logits``).
Variants: ``eager`` (cl_kernels.reference: full logits, fp32 upcast), ``compiled``
(torch.compile of it) and ``fused`` (the public op as dispatched: Triton on CUDA, C++ on CPU).

Shapes: vocab 32000 with 4k, 8k and 16k tokens at the widths of T5-large (d = 1024) and LLaMA-7B
(d = 4096), bf16 on CUDA. The 2-core CPU keeps the vocabulary (the memory driver) and scales the
tokens by 1/4 and the width by 1/8 (fp32; the logits form also in bf16); each case records it.

    python bench/bench_weighted_ce.py [--device cpu|cuda] [--no-compile] [--quick]
"""

from __future__ import annotations

import torch
from common import Case, compiled, parse_args, run_case, write_results

import cl_kernels
from cl_kernels import reference

VOCAB = 32000


def _step(fn, leaves, labels, weights):
    """One training step of ``fn``: loss and the gradients of ``leaves``."""

    def run() -> None:
        for leaf in leaves:
            leaf.grad = None
        fn(*leaves, labels, weights).backward()

    return run


def main() -> None:
    opts = parse_args(__doc__.splitlines()[0])
    device = torch.device(opts.device)
    cuda = device.type == "cuda"
    if opts.quick:
        shapes, scale, vocab = [("tiny", 64, 256)], {"quick": True}, 1000
    elif cuda:
        shapes = [
            (m, d, n)
            for m, d in (("t5-large", 1024), ("llama-7b", 4096))
            for n in (4096, 8192, 16384)
        ]
        scale, vocab = {}, VOCAB
    else:
        shapes = [("t5-large", 128, 1024), ("llama-7b", 512, 1024)]
        scale, vocab = {"tokens": 0.25, "d": 0.125, "vocab": 1.0}, VOCAB
    forms = (
        [("head", torch.bfloat16), ("logits", torch.bfloat16)]
        if cuda
        else [("head", torch.float32), ("logits", torch.float32), ("logits", torch.bfloat16)]
    )
    gen = torch.Generator().manual_seed(0)
    rows = []
    for model, d, n in shapes:
        b = max(1, n // 1024)
        t = n // b
        labels = torch.randint(0, vocab, (b, t), generator=gen)
        labels[torch.rand(b, t, generator=gen) < 0.05] = -100  # some ignored targets
        labels = labels.to(device)
        weights = torch.rand(b, t, generator=gen).to(device)
        for form, dtype in forms:
            hidden = torch.randn(b, t, d, generator=gen).to(device, dtype)
            head = (torch.randn(vocab, d, generator=gen) / d**0.5).to(device, dtype)
            if form == "head":
                leaves = [hidden.requires_grad_(), head.requires_grad_()]
                ref_fn, fused_fn = (
                    reference.weighted_cross_entropy,
                    cl_kernels.weighted_cross_entropy,
                )
            else:
                leaves = [(hidden @ head.t()).requires_grad_()]
                del hidden, head
                ref_fn = reference.weighted_cross_entropy_from_logits
                fused_fn = cl_kernels.weighted_cross_entropy_from_logits

            variants = {
                "eager": _step(ref_fn, leaves, labels, weights),
                "fused": _step(fused_fn, leaves, labels, weights),
            }
            if not opts.no_compile:
                variants["compiled"] = _step(compiled(ref_fn), leaves, labels, weights)
            name = "weighted_cross_entropy" + ("_from_logits" if form == "logits" else "")
            case = Case(
                f"{model} {form} {str(dtype)[6:]} tokens={n}",
                shape={
                    "model": model,
                    "d": d,
                    "tokens": n,
                    "vocab": vocab,
                    "form": form,
                    "dtype": str(dtype),
                    "fused_backend": cl_kernels._dispatch.select(name, device),
                },
                scale=scale,
            )
            rows.append(run_case(case, variants, device, opts.min_time))
            del leaves, variants
    name = "weighted_ce_quick" if opts.quick else "weighted_ce"
    write_results(name, device, rows, opts.output_dir)


if __name__ == "__main__":
    main()
