"""C++ (``cl_kernels._cpp_subspace``) subspace penalties on CPU tensors.

Inputs are viewed as contiguous float32 (16-bit inputs are upcast, a copy). The forward computes
the value and, when a gradient will be needed, the gradient in the same pass over memory, into one
flat float32 buffer; the backward only scales it by the incoming gradient and hands out per-layer
views cast to each input's dtype.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch.autograd.function import once_differentiable

from .. import _cpp_subspace as ext


def _f32(tensors: Sequence[torch.Tensor]) -> list[torch.Tensor]:
    return [t.detach().to(torch.float32).contiguous() for t in tensors]


def _views(flat: torch.Tensor, shapes: Sequence[torch.Size]) -> list[torch.Tensor]:
    views, offset = [], 0
    for shape in shapes:
        numel = shape.numel()
        views.append(flat[offset : offset + numel].view(shape))
        offset += numel
    return views


def _flat_grads(tensors: Sequence[torch.Tensor]) -> tuple[torch.Tensor, list[torch.Tensor]]:
    """One float32 buffer and its per-tensor views shaped like ``tensors``."""
    flat = torch.empty(sum(t.numel() for t in tensors), dtype=torch.float32)
    return flat, _views(flat, [t.shape for t in tensors])


def _ptrs(tensors: Sequence[torch.Tensor]) -> list[int]:
    return [t.data_ptr() for t in tensors]


def _wants_grad(tensors: Sequence[torch.Tensor]) -> bool:
    return torch.is_grad_enabled() and any(t.requires_grad for t in tensors)


class _Stored(torch.autograd.Function):
    """value, with the gradient of every input computed in forward: backward = grad_out * it."""

    @staticmethod
    def forward(ctx, value: float, flat: torch.Tensor, *inputs: torch.Tensor) -> torch.Tensor:
        ctx.flat = flat
        ctx.like = [(t.shape, t.dtype) for t in inputs]
        return torch.tensor(value, dtype=torch.float32)

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_out: torch.Tensor):
        views = _views(ctx.flat * grad_out.float(), [shape for shape, _ in ctx.like])
        grads = [v if dt == torch.float32 else v.to(dt) for v, (_, dt) in zip(views, ctx.like)]
        return None, None, *grads


def _finish(value: float, flat: torch.Tensor | None, inputs: Sequence[torch.Tensor]):
    """The value as a float32 scalar, carrying the gradients stored in ``flat`` (laid out like
    ``inputs``) when there are any."""
    if flat is None:
        return torch.tensor(value, dtype=torch.float32)
    return _Stored.apply(value, flat, *inputs)


def orthogonality_penalty(
    a_old: Sequence[torch.Tensor], a_new: Sequence[torch.Tensor], norm: str = "l1"
) -> torch.Tensor:
    if not a_new:
        return torch.zeros((), dtype=torch.float32)
    old, new = _f32(a_old), _f32(a_new)
    grad = _wants_grad(a_new)
    flat, views = _flat_grads(new) if grad else (None, [])
    value = ext.orthogonality(
        _ptrs(old),
        _ptrs(new),
        _ptrs(views),
        [t.shape[0] for t in old],
        [t.shape[0] for t in new],
        [t.shape[1] for t in new],
        norm == "l2sq",
    )
    return _finish(value, flat, a_new)


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
        _flat, views = _flat_grads(xs)
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
    flat, views = _flat_grads([*a32, *b32]) if grad else (None, [])
    ga, gb = views[: len(a32)], views[len(a32) :]
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
    return _finish(value, flat, [*a_list, *b_list])
