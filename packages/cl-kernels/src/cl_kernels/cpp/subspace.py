"""C++ (``cl_kernels._cpp_subspace``) subspace penalties on CPU tensors.

Inputs are viewed as contiguous float32 (16-bit inputs are upcast, a copy). The forward computes
the value and, when a gradient will be needed, the gradient in the same pass over memory, into
float32 buffers; the backward only scales them by the incoming gradient (one ``_foreach_mul``) and
casts them to each input's dtype.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch.autograd.function import once_differentiable

from .. import _cpp_subspace as ext


def _f32(tensors: Sequence[torch.Tensor]) -> list[torch.Tensor]:
    """Contiguous float32 versions (the tensors themselves when they already are; the extension
    only reads their memory)."""
    return [
        t if t.dtype == torch.float32 and t.is_contiguous() else t.detach().float().contiguous()
        for t in tensors
    ]


@torch.no_grad()
def _buffers(tensors: Sequence[torch.Tensor]) -> list[torch.Tensor]:
    """Uninitialised float32 tensors shaped like ``tensors`` (the kernels write them in full).
    Separate tensors rather than views of one buffer: hundreds of ``view`` calls cost more."""
    return [torch.empty(t.shape, dtype=torch.float32) for t in tensors]


def _ptrs(tensors: Sequence[torch.Tensor]) -> list[int]:
    return [t.data_ptr() for t in tensors]


def _wants_grad(tensors: Sequence[torch.Tensor]) -> bool:
    return torch.is_grad_enabled() and any(t.requires_grad for t in tensors)


class _Stored(torch.autograd.Function):
    """value, with the gradient of every input computed in forward: backward = grad_out * it."""

    @staticmethod
    def forward(ctx, value: float, grads: list[torch.Tensor], *inputs: torch.Tensor):
        ctx.grads = grads
        ctx.dtypes = [t.dtype for t in inputs]
        return torch.tensor(value, dtype=torch.float32)

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_out: torch.Tensor):
        grads = torch._foreach_mul(ctx.grads, grad_out.float())
        grads = [g if dt == torch.float32 else g.to(dt) for g, dt in zip(grads, ctx.dtypes)]
        return None, None, *grads


def _finish(value: float, grads: list[torch.Tensor] | None, inputs: Sequence[torch.Tensor]):
    """The value as a float32 scalar, carrying the gradients ``grads`` (one per input, for a
    unit incoming gradient) when there are any."""
    if grads is None:
        return torch.tensor(value, dtype=torch.float32)
    return _Stored.apply(value, grads, *inputs)


def orthogonality_penalty(
    a_old: Sequence[torch.Tensor], a_new: Sequence[torch.Tensor], norm: str = "l1"
) -> torch.Tensor:
    if not a_new:
        return torch.zeros((), dtype=torch.float32)
    old, new = _f32(a_old), _f32(a_new)
    grad = _wants_grad(a_new)
    grads = _buffers(new) if grad else None
    value = ext.orthogonality(
        _ptrs(old),
        _ptrs(new),
        _ptrs(grads or []),
        [t.shape[0] for t in old],
        [t.shape[0] for t in new],
        [t.shape[1] for t in new],
        norm == "l2sq",
    )
    return _finish(value, grads, a_new)


class _L2(torch.autograd.Function):
    @staticmethod
    def forward(ctx, *params: torch.Tensor) -> torch.Tensor:
        ctx.dtypes = [p.dtype for p in params]
        xs = _f32(params)
        norms = [s**0.5 for s in ext.sumsq(_ptrs(xs), [x.numel() for x in xs])]
        ctx.norms = norms
        ctx.save_for_backward(*xs)
        return torch.tensor(sum(norms), dtype=torch.float32)

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_out: torch.Tensor):
        xs = ctx.saved_tensors
        g = float(grad_out)
        views = _buffers(xs)
        scales = [g / n if n > 0 else 0.0 for n in ctx.norms]
        ext.scaled_copy(_ptrs(xs), _ptrs(views), [x.numel() for x in xs], scales)
        return tuple(
            v if x.dtype == p_dtype else v.to(p_dtype)
            for v, x, p_dtype in zip(views, xs, ctx.dtypes)
        )


def l2_penalty(params: Sequence[torch.Tensor]) -> torch.Tensor:
    if not params:
        return torch.zeros((), dtype=torch.float32)
    return _L2.apply(*params)


def nlora_penalty(
    a_list: Sequence[torch.Tensor], b_list: Sequence[torch.Tensor], mode: str = "ab"
) -> torch.Tensor:
    if not a_list:
        return torch.zeros((), dtype=torch.float32)
    a32, b32 = _f32(a_list), _f32(b_list)
    grad = _wants_grad([*a_list, *b_list])
    grads = _buffers([*a32, *b32]) if grad else []
    ga, gb = grads[: len(a32)], grads[len(a32) :]
    ranks = [a.shape[0] for a in a32]
    if mode == "ab":
        value = ext.nlora_ab(
            _ptrs(a32), _ptrs(b32), _ptrs(ga), _ptrs(gb), ranks, [a.shape[1] for a in a32]
        )
    else:
        value = ext.nlora_delta_w(
            _ptrs(a32),
            _ptrs(b32),
            _ptrs(ga),
            _ptrs(gb),
            ranks,
            [a.shape[1] for a in a32],
            [b.shape[0] for b in b32],
        )
    return _finish(value, grads or None, [*a_list, *b_list])
