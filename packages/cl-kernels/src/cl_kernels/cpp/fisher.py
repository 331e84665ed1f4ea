"""C++ (``cl_kernels._cpp_fisher``) Fisher/EWC ops on CPU float32 tensors.

The extension works on raw float32 buffers, so these wrappers take contiguous float32 CPU tensors
(``cl_kernels.fisher._cpp_accepts`` says why not otherwise; the dispatcher then uses the
reference). The EWC penalty is an
``autograd.Function``: the forward reduces in one pass, the backward writes ``lam F (p - a)`` times
the incoming gradient in one more pass (nothing is stored between them but the inputs).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch.autograd.function import once_differentiable

from .. import _cpp_fisher as ext


def _ptrs(tensors: Sequence[torch.Tensor]) -> list[int]:
    return [t.data_ptr() for t in tensors]


def fisher_accumulate(
    fishers: Sequence[torch.Tensor], grads: Sequence[torch.Tensor | None], c: float
) -> Sequence[torch.Tensor]:
    rows = [(f, g) for f, g in zip(fishers, grads, strict=True) if g is not None]
    if rows:
        fs, gs = zip(*rows)
        ext.accumulate(_ptrs(fs), _ptrs(gs), [f.numel() for f in fs], float(c))
    return fishers


def fisher_merge(
    f_new: Sequence[torch.Tensor], f_old: Sequence[torch.Tensor], t: float
) -> Sequence[torch.Tensor]:
    if f_old:
        ext.merge(_ptrs(f_new), _ptrs(f_old), [f.numel() for f in f_old], float(t))
    return f_old


class _EWC(torch.autograd.Function):
    @staticmethod
    def forward(ctx, lam: float, n: int, *tensors: torch.Tensor) -> torch.Tensor:
        params, anchors, fishers = tensors[:n], tensors[n : 2 * n], tensors[2 * n :]
        numels = [p.numel() for p in params]
        value = ext.ewc_value(_ptrs(params), _ptrs(anchors), _ptrs(fishers), numels)
        ctx.lam, ctx.n = lam, n
        ctx.save_for_backward(*tensors)
        return torch.tensor(value * lam / 2, dtype=torch.float32)

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_out: torch.Tensor):
        tensors = ctx.saved_tensors
        n = ctx.n
        params, anchors, fishers = tensors[:n], tensors[n : 2 * n], tensors[2 * n :]
        needed = [i for i in range(n) if ctx.needs_input_grad[2 + i]]
        grads: list[torch.Tensor | None] = [None] * (3 * n)
        if needed:
            outs = [torch.empty_like(params[i]) for i in needed]
            ext.ewc_grad(
                _ptrs([params[i] for i in needed]),
                _ptrs([anchors[i] for i in needed]),
                _ptrs([fishers[i] for i in needed]),
                _ptrs(outs),
                [params[i].numel() for i in needed],
                ctx.lam * float(grad_out),
            )
            for i, out in zip(needed, outs):
                grads[i] = out
        return None, None, *grads


def ewc_penalty(
    params: Sequence[torch.Tensor],
    anchors: Sequence[torch.Tensor],
    fishers: Sequence[torch.Tensor],
    lam: float,
) -> torch.Tensor:
    if not params:
        return torch.zeros((), dtype=torch.float32)
    anchors = [a.detach() for a in anchors]
    fishers = [f.detach() for f in fishers]
    return _EWC.apply(float(lam), len(params), *params, *anchors, *fishers)
