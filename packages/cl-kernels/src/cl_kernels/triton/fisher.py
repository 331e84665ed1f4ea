"""Triton Fisher/EWC ops: one multi-tensor launch per dtype group (see ``_multi``), no copies.

``fisher_accumulate`` and ``fisher_merge`` update the caller's tensors in place through pointer
tables. ``ewc_penalty`` reduces ``sum F (p - a)^2`` per block in the forward and, in the backward,
recomputes ``lam * g * F (p - a)`` straight into fresh gradient tensors (nothing model-sized is
kept between the two). Arithmetic is float32; results are stored in each tensor's dtype.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import triton
import triton.language as tl
from torch.autograd.function import once_differentiable

from .._pack import group_by_dtype
from ._multi import BLOCK, Group, block_of, role_ptr


@triton.jit
def _accumulate(
    f_ptrs, g_ptrs, index_ptr, start_ptr, numels_ptr, c,
    FT: tl.constexpr, GT: tl.constexpr, BLOCK: tl.constexpr,
):  # fmt: skip
    _pid, i, offs, mask = block_of(index_ptr, start_ptr, numels_ptr, BLOCK)
    f_ptr = role_ptr(f_ptrs, i, FT)
    g_ptr = role_ptr(g_ptrs, i, GT)
    f = tl.load(f_ptr + offs, mask=mask, other=0.0).to(tl.float32)
    g = tl.load(g_ptr + offs, mask=mask, other=0.0).to(tl.float32)
    tl.store(f_ptr + offs, (f + c * g * g).to(FT), mask=mask)


@triton.jit
def _merge(
    new_ptrs, old_ptrs, index_ptr, start_ptr, numels_ptr, t, inv,
    NT: tl.constexpr, OT: tl.constexpr, BLOCK: tl.constexpr,
):  # fmt: skip
    _pid, i, offs, mask = block_of(index_ptr, start_ptr, numels_ptr, BLOCK)
    n_ptr = role_ptr(new_ptrs, i, NT)
    o_ptr = role_ptr(old_ptrs, i, OT)
    new = tl.load(n_ptr + offs, mask=mask, other=0.0).to(tl.float32)
    old = tl.load(o_ptr + offs, mask=mask, other=0.0).to(tl.float32)
    tl.store(o_ptr + offs, ((new + t * old) * inv).to(OT), mask=mask)


@triton.jit
def _ewc_value(
    p_ptrs, a_ptrs, f_ptrs, index_ptr, start_ptr, numels_ptr, part_ptr,
    PT: tl.constexpr, AT: tl.constexpr, FT: tl.constexpr, BLOCK: tl.constexpr,
):  # fmt: skip
    pid, i, offs, mask = block_of(index_ptr, start_ptr, numels_ptr, BLOCK)
    p = tl.load(role_ptr(p_ptrs, i, PT) + offs, mask=mask, other=0.0)
    a = tl.load(role_ptr(a_ptrs, i, AT) + offs, mask=mask, other=0.0)
    f = tl.load(role_ptr(f_ptrs, i, FT) + offs, mask=mask, other=0.0)
    diff = p.to(tl.float32) - a.to(tl.float32)
    tl.store(part_ptr + pid, tl.sum(f.to(tl.float32) * diff * diff))


@triton.jit
def _ewc_grad(
    p_ptrs, a_ptrs, f_ptrs, o_ptrs, index_ptr, start_ptr, numels_ptr, scale_ptr,
    PT: tl.constexpr, AT: tl.constexpr, FT: tl.constexpr, BLOCK: tl.constexpr,
):  # fmt: skip
    _pid, i, offs, mask = block_of(index_ptr, start_ptr, numels_ptr, BLOCK)
    p = tl.load(role_ptr(p_ptrs, i, PT) + offs, mask=mask, other=0.0)
    a = tl.load(role_ptr(a_ptrs, i, AT) + offs, mask=mask, other=0.0)
    f = tl.load(role_ptr(f_ptrs, i, FT) + offs, mask=mask, other=0.0)
    grad = tl.load(scale_ptr) * f.to(tl.float32) * (p.to(tl.float32) - a.to(tl.float32))
    o_ptr = role_ptr(o_ptrs, i, PT)
    tl.store(o_ptr + offs, grad.to(PT), mask=mask)


def _in_place(targets: Sequence[torch.Tensor]) -> tuple[list[torch.Tensor], list[int]]:
    """Contiguous stand-ins for the targets (themselves when contiguous) and which need a copy
    back."""
    work, back = [], []
    for i, t in enumerate(targets):
        if t.is_contiguous():
            work.append(t)
        else:
            work.append(t.contiguous())
            back.append(i)
    return work, back


@torch.no_grad()
def fisher_accumulate(
    fishers: Sequence[torch.Tensor], grads: Sequence[torch.Tensor | None], c: float
) -> Sequence[torch.Tensor]:
    work, back = _in_place(fishers)
    gs = [None if g is None else g.detach().contiguous() for g in grads]
    for idx in group_by_dtype(work, gs).values():
        idx = [i for i in idx if work[i].numel()]
        if not idx:
            continue
        group = Group([[work[i] for i in idx], [gs[i] for i in idx]], work[idx[0]].device)
        _accumulate[group.grid](
            group.ptrs[0], group.ptrs[1], group.index, group.start, group.numels, float(c),
            FT=group.dtypes[0], GT=group.dtypes[1], BLOCK=BLOCK,
        )  # fmt: skip
    for i in back:
        fishers[i].copy_(work[i])
    return fishers


@torch.no_grad()
def fisher_merge(
    f_new: Sequence[torch.Tensor], f_old: Sequence[torch.Tensor], t: float
) -> Sequence[torch.Tensor]:
    work, back = _in_place(f_old)
    news = [f.detach().contiguous() for f in f_new]
    for idx in group_by_dtype(news, work).values():
        idx = [i for i in idx if work[i].numel()]
        if not idx:
            continue
        group = Group([[news[i] for i in idx], [work[i] for i in idx]], work[idx[0]].device)
        _merge[group.grid](
            group.ptrs[0], group.ptrs[1], group.index, group.start, group.numels,
            float(t), 1.0 / (float(t) + 1.0),
            NT=group.dtypes[0], OT=group.dtypes[1], BLOCK=BLOCK,
        )  # fmt: skip
    for i in back:
        f_old[i].copy_(work[i])
    return f_old


class _EWC(torch.autograd.Function):
    @staticmethod
    def forward(ctx, lam: float, n: int, *tensors: torch.Tensor) -> torch.Tensor:
        ts = [t.detach().contiguous() for t in tensors]
        ps, as_, fs = ts[:n], ts[n : 2 * n], ts[2 * n :]
        device = ps[0].device
        groups = [[i for i in idx if ps[i].numel()] for idx in group_by_dtype(ps, as_, fs).values()]
        groups = [idx for idx in groups if idx]
        total = torch.zeros((), dtype=torch.float32, device=device)
        for idx in groups:
            group = Group([[col[i] for i in idx] for col in (ps, as_, fs)], device)
            part = torch.empty(group.n_blocks, dtype=torch.float32, device=device)
            _ewc_value[group.grid](
                *group.ptrs, group.index, group.start, group.numels, part,
                PT=group.dtypes[0], AT=group.dtypes[1], FT=group.dtypes[2], BLOCK=BLOCK,
            )  # fmt: skip
            total = total + part.sum()
        ctx.lam, ctx.n, ctx.groups = lam, n, groups
        ctx.save_for_backward(*ts)
        return total * (lam / 2)

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_out: torch.Tensor):
        ts = ctx.saved_tensors
        n = ctx.n
        ps, as_, fs = ts[:n], ts[n : 2 * n], ts[2 * n :]
        grads: list[torch.Tensor | None] = [
            torch.zeros_like(p) if ctx.needs_input_grad[2 + i] else None for i, p in enumerate(ps)
        ]
        scale = (grad_out.float() * ctx.lam).reshape(1).contiguous()
        for idx in ctx.groups:
            idx = [i for i in idx if grads[i] is not None]
            if not idx:
                continue
            device = ps[idx[0]].device
            group = Group([[col[i] for i in idx] for col in (ps, as_, fs, grads)], device)
            _ewc_grad[group.grid](
                *group.ptrs, group.index, group.start, group.numels, scale,
                PT=group.dtypes[0], AT=group.dtypes[1], FT=group.dtypes[2], BLOCK=BLOCK,
            )  # fmt: skip
        return None, None, *grads, *([None] * (2 * n))


def ewc_penalty(
    params: Sequence[torch.Tensor],
    anchors: Sequence[torch.Tensor],
    fishers: Sequence[torch.Tensor],
    lam: float,
) -> torch.Tensor:
    if not params:
        return torch.zeros((), dtype=torch.float32)
    return _EWC.apply(float(lam), len(params), *params, *anchors, *fishers)
