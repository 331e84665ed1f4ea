"""Triton subspace penalties over many layers in one launch (no Python loop over layers on the
device): O-LoRA orthogonality, the un-squared Frobenius sum, and N-LoRA's L1 (``ab`` and
``delta_w``).

Layers are packed into one flat buffer per role with a small int64 metadata table (offsets and
sizes per layer); programs index it by ``program_id(0)`` = layer. Arithmetic is float32: 16-bit
inputs are upcast on load and every ``tl.dot`` uses ``ieee`` precision (these products have a tiny
inner or outer dimension, r <= 128, so tensor cores would buy little and cost accuracy). Forward
kernels write one partial sum per program, reduced by one ``sum``; backward kernels write the
float32 gradients into one flat buffer that is handed out as per-layer views.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import triton
import triton.language as tl
from torch.autograd.function import once_differentiable

from .._pack import PackCache, common_dtype, group_by_dtype, pack
from ._multi import BLOCK, Group, block_of, contiguous, role_ptr


def _nonempty(t: torch.Tensor) -> torch.Tensor:
    """A one-element stand-in for an empty buffer (kernel arguments must be valid pointers;
    nothing is read from it, every access is masked)."""
    return t if t.numel() else torch.zeros(1, dtype=t.dtype, device=t.device)


def _unpack(
    flat: torch.Tensor, offs: Sequence[int], like: Sequence[tuple[torch.Size, torch.dtype]]
) -> list[torch.Tensor]:
    """Per-layer views of the flat float32 gradient buffer, cast to each input's dtype."""
    return [
        flat[o : o + torch.Size(shape).numel()].view(shape).to(dtype)
        for o, (shape, dtype) in zip(offs, like)
    ]


def _block(n: int, least: int = 16) -> int:
    return max(least, triton.next_power_of_2(max(n, 1)))


@triton.jit
def _sign(x):
    return tl.where(x > 0, 1.0, tl.where(x < 0, -1.0, 0.0))


@triton.jit
def _load_tile(ptr, rows, cols, n_rows, n_cols, stride):
    """The float32 tile ``M[rows, cols]`` of a row-major (n_rows, n_cols) matrix at ``ptr`` with
    row stride ``stride``; entries outside the matrix read as 0."""
    return tl.load(
        ptr + rows[:, None] * stride + cols[None, :],
        mask=(rows[:, None] < n_rows) & (cols[None, :] < n_cols),
        other=0.0,
    ).to(tl.float32)


@triton.jit
def _store_tile(ptr, rows, cols, n_rows, n_cols, stride, value):
    """Store ``value`` into the tile ``M[rows, cols]`` (same layout as ``_load_tile``), masked to
    the matrix."""
    tl.store(
        ptr + rows[:, None] * stride + cols[None, :],
        value,
        mask=(rows[:, None] < n_rows) & (cols[None, :] < n_cols),
    )


# ============================================================================ orthogonality


@triton.jit
def _orth_meta(meta_ptr, layer):
    """Row ``layer`` of the orthogonality table: (old_off, new_off, prod_off, r_old, r_new, d)."""
    meta = meta_ptr + layer * 6
    return (
        tl.load(meta),
        tl.load(meta + 1),
        tl.load(meta + 2),
        tl.load(meta + 3),
        tl.load(meta + 4),
        tl.load(meta + 5),
    )


@triton.jit
def _orth_fwd(
    old_ptr, new_ptr, prod_ptr, part_ptr, meta_ptr, n_tiles,
    L2SQ: tl.constexpr,
    BLOCK_O: tl.constexpr, BLOCK_N: tl.constexpr, BLOCK_D: tl.constexpr,
):  # fmt: skip
    layer = tl.program_id(0)
    tile = tl.program_id(1)
    old_off, new_off, prod_off, r_old, r_new, d = _orth_meta(meta_ptr, layer)
    rows = tile * BLOCK_O + tl.arange(0, BLOCK_O)
    cols = tl.arange(0, BLOCK_N)
    acc = tl.zeros((BLOCK_O, BLOCK_N), dtype=tl.float32)
    d_run = tl.where(tile * BLOCK_O < r_old, d, 0)  # tiles past r_old skip the loop
    for k0 in range(0, d_run, BLOCK_D):
        ks = k0 + tl.arange(0, BLOCK_D)
        a = _load_tile(old_ptr + old_off, rows, ks, r_old, d, d)
        b = _load_tile(new_ptr + new_off, cols, ks, r_new, d, d)
        acc += tl.dot(a, tl.trans(b), input_precision="ieee")
    inside = (rows[:, None] < r_old) & (cols[None, :] < r_new)
    tl.store(prod_ptr + prod_off + rows[:, None] * r_new + cols[None, :], acc, mask=inside)
    if L2SQ:
        val = acc * acc
    else:
        val = tl.abs(acc)
    tl.store(part_ptr + layer * n_tiles + tile, tl.sum(tl.where(inside, val, 0.0)))


@triton.jit
def _orth_bwd(
    old_ptr, prod_ptr, grad_ptr, meta_ptr, gout_ptr,
    L2SQ: tl.constexpr, BLOCK_O: tl.constexpr, BLOCK_N: tl.constexpr, BLOCK_D: tl.constexpr,
):  # fmt: skip
    """grad_new[:, ks] = gout * S^T @ A_old[:, ks], S = sign(P) (l1) or 2P (l2sq)."""
    layer = tl.program_id(0)
    tile = tl.program_id(1)
    old_off, new_off, prod_off, r_old, r_new, d = _orth_meta(meta_ptr, layer)
    ks = tile * BLOCK_D + tl.arange(0, BLOCK_D)
    cols = tl.arange(0, BLOCK_N)
    acc = tl.zeros((BLOCK_N, BLOCK_D), dtype=tl.float32)
    r_run = tl.where(tile * BLOCK_D < d, r_old, 0)
    for i0 in range(0, r_run, BLOCK_O):
        rows = i0 + tl.arange(0, BLOCK_O)
        p = _load_tile(prod_ptr + prod_off, rows, cols, r_old, r_new, r_new)
        if L2SQ:
            s = 2.0 * p
        else:
            s = _sign(p)
        a = _load_tile(old_ptr + old_off, rows, ks, r_old, d, d)
        acc += tl.dot(tl.trans(s), a, input_precision="ieee")
    g = tl.load(gout_ptr)
    _store_tile(grad_ptr + new_off, cols, ks, r_new, d, d, acc * g)


_OLD_CACHE = PackCache()


class _Orthogonality(torch.autograd.Function):
    @staticmethod
    def forward(ctx, norm: str, n: int, *tensors: torch.Tensor) -> torch.Tensor:
        a_old, a_new = tensors[:n], tensors[n:]
        device = a_new[0].device
        dtype = common_dtype([*a_old, *a_new])
        old_flat, old_offs = _OLD_CACHE.get(a_old, dtype)
        old_flat = _nonempty(old_flat)
        new_flat, new_offs = pack(a_new, dtype)
        new_numel = new_flat.numel()
        new_flat = _nonempty(new_flat)
        prod_offs, total = [], 0
        for old, new in zip(a_old, a_new):
            prod_offs.append(total)
            total += old.shape[0] * new.shape[0]
        rows = [
            [oo, no, po, old.shape[0], new.shape[0], new.shape[1]]
            for oo, no, po, old, new in zip(old_offs, new_offs, prod_offs, a_old, a_new)
        ]
        meta = torch.tensor(rows, dtype=torch.int64).to(device)
        prod = torch.empty(max(total, 1), dtype=torch.float32, device=device)
        max_old = max(old.shape[0] for old in a_old)
        max_new = max(new.shape[0] for new in a_new)
        block_o, block_n = 32, _block(max_new)
        n_tiles = triton.cdiv(max(max_old, 1), block_o)
        part = torch.zeros(n * n_tiles, dtype=torch.float32, device=device)
        _orth_fwd[(n, n_tiles)](
            old_flat, new_flat, prod, part, meta, n_tiles,
            L2SQ=norm == "l2sq",
            BLOCK_O=block_o, BLOCK_N=block_n, BLOCK_D=64,
        )  # fmt: skip
        ctx.norm, ctx.n, ctx.blocks = norm, n, (block_o, block_n)
        ctx.save_for_backward(old_flat, prod, meta)
        ctx.new_offs, ctx.new_numel = new_offs, new_numel
        ctx.like = [(t.shape, t.dtype) for t in a_new]
        ctx.max_d = max(new.shape[1] for new in a_new)
        return part.sum()

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_out: torch.Tensor):
        old_flat, prod, meta = ctx.saved_tensors
        grad = torch.empty(max(ctx.new_numel, 1), dtype=torch.float32, device=prod.device)
        block_o, block_n = ctx.blocks
        block_d = 64
        gout = grad_out.reshape(1).to(torch.float32).contiguous()
        _orth_bwd[(ctx.n, triton.cdiv(ctx.max_d, block_d))](
            old_flat, prod, grad, meta, gout,
            L2SQ=ctx.norm == "l2sq", BLOCK_O=block_o, BLOCK_N=block_n, BLOCK_D=block_d,
        )  # fmt: skip
        grads = _unpack(grad, ctx.new_offs, ctx.like)
        return None, None, *([None] * ctx.n), *grads


def orthogonality_penalty(
    a_old: Sequence[torch.Tensor], a_new: Sequence[torch.Tensor], norm: str = "l1"
) -> torch.Tensor:
    if not a_new:
        return torch.zeros((), dtype=torch.float32)
    return _Orthogonality.apply(norm, len(a_new), *[a.detach() for a in a_old], *a_new)


# ============================================================================ L2 (Frobenius sum)


@triton.jit
def _sumsq(ptrs, index_ptr, start_ptr, numels_ptr, part_ptr, DT: tl.constexpr, BLOCK: tl.constexpr):
    pid, i, offs, mask = block_of(index_ptr, start_ptr, numels_ptr, BLOCK)
    x_ptr = role_ptr(ptrs, i, DT)
    x = tl.load(x_ptr + offs, mask=mask, other=0.0).to(tl.float32)
    tl.store(part_ptr + pid, tl.sum(x * x))


@triton.jit
def _scaled_copy(
    ptrs, out_ptrs, index_ptr, start_ptr, numels_ptr, scale_ptr,
    DT: tl.constexpr, BLOCK: tl.constexpr,
):  # fmt: skip
    """out_i = x_i * scale[i] (float32 out)."""
    _pid, i, offs, mask = block_of(index_ptr, start_ptr, numels_ptr, BLOCK)
    x_ptr = role_ptr(ptrs, i, DT)
    o_ptr = role_ptr(out_ptrs, i, tl.float32)
    x = tl.load(x_ptr + offs, mask=mask, other=0.0).to(tl.float32)
    tl.store(o_ptr + offs, x * tl.load(scale_ptr + i), mask=mask)


class _L2(torch.autograd.Function):
    @staticmethod
    def forward(ctx, *params: torch.Tensor) -> torch.Tensor:
        device = params[0].device
        xs = contiguous(params)
        norms = torch.empty(len(xs), dtype=torch.float32, device=device)
        groups = []
        for idx in group_by_dtype(xs).values():
            group = Group([[xs[i] for i in idx]], device)
            part = torch.empty(group.n_blocks, dtype=torch.float32, device=device)
            if group.n_blocks:
                _sumsq[group.grid](
                    group.ptrs[0], group.index, group.start, group.numels, part,
                    DT=group.dtypes[0], BLOCK=BLOCK,
                )  # fmt: skip
            sums = torch.zeros(group.n_tensors, dtype=torch.float32, device=device)
            sums.index_add_(0, group.index, part)
            norms[torch.tensor(idx, device=device)] = sums.sqrt()
            groups.append(idx)
        ctx.groups = groups
        ctx.save_for_backward(norms, *xs)
        return norms.sum()

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_out: torch.Tensor):
        norms, *xs = ctx.saved_tensors
        device = norms.device
        scale = torch.where(norms > 0, grad_out.float() / norms.clamp_min(1e-30), 0.0)
        grads: list[torch.Tensor | None] = [None] * len(xs)
        for idx in ctx.groups:
            if not any(ctx.needs_input_grad[i] for i in idx):
                continue
            outs = [torch.empty(xs[i].shape, dtype=torch.float32, device=device) for i in idx]
            group = Group([[xs[i] for i in idx], outs], device)
            if group.n_blocks:
                _scaled_copy[group.grid](
                    group.ptrs[0], group.ptrs[1], group.index, group.start, group.numels,
                    scale[torch.tensor(idx, device=device)].contiguous(),
                    DT=group.dtypes[0], BLOCK=BLOCK,
                )  # fmt: skip
            for i, out in zip(idx, outs):
                grads[i] = out.to(xs[i].dtype)
        return tuple(grads)


def l2_penalty(params: Sequence[torch.Tensor]) -> torch.Tensor:
    if not params:
        return torch.zeros((), dtype=torch.float32)
    return _L2.apply(*params)


# ============================================================================ N-LoRA


@triton.jit
def _nlora_ab_fwd(
    a_ptr, b_ptr, prod_ptr, part_ptr, meta_ptr,
    BLOCK_R: tl.constexpr, BLOCK_D: tl.constexpr,
):  # fmt: skip
    """P = A [r x d] @ B [d x r]; part[layer] = sum |P|."""
    layer = tl.program_id(0)
    meta = meta_ptr + layer * 4
    off = tl.load(meta)  # A and B of a layer have the same numel r*d, so one offset serves both
    prod_off = tl.load(meta + 1)
    r = tl.load(meta + 2)
    d = tl.load(meta + 3)
    rr = tl.arange(0, BLOCK_R)
    acc = tl.zeros((BLOCK_R, BLOCK_R), dtype=tl.float32)
    for k0 in range(0, d, BLOCK_D):
        ks = k0 + tl.arange(0, BLOCK_D)
        a = _load_tile(a_ptr + off, rr, ks, r, d, d)
        b = _load_tile(b_ptr + off, ks, rr, d, r, r)
        acc += tl.dot(a, b, input_precision="ieee")
    inside = (rr[:, None] < r) & (rr[None, :] < r)
    tl.store(prod_ptr + prod_off + rr[:, None] * r + rr[None, :], acc, mask=inside)
    tl.store(part_ptr + layer, tl.sum(tl.where(inside, tl.abs(acc), 0.0)))


@triton.jit
def _nlora_ab_bwd(
    a_ptr, b_ptr, prod_ptr, ga_ptr, gb_ptr, meta_ptr, gout_ptr,
    BLOCK_R: tl.constexpr, BLOCK_D: tl.constexpr,
):  # fmt: skip
    """dA[:, ks] = g S @ B[ks, :]^T, dB[ks, :] = g A[:, ks]^T @ S with S = sign(P)."""
    layer = tl.program_id(0)
    tile = tl.program_id(1)
    meta = meta_ptr + layer * 4
    off = tl.load(meta)
    prod_off = tl.load(meta + 1)
    r = tl.load(meta + 2)
    d = tl.load(meta + 3)
    rr = tl.arange(0, BLOCK_R)
    ks = tile * BLOCK_D + tl.arange(0, BLOCK_D)
    s = _sign(_load_tile(prod_ptr + prod_off, rr, rr, r, r, r))
    a_mask = (rr[:, None] < r) & (ks[None, :] < d)
    b_mask = (ks[:, None] < d) & (rr[None, :] < r)
    a = tl.load(a_ptr + off + rr[:, None] * d + ks[None, :], mask=a_mask, other=0.0)
    b = tl.load(b_ptr + off + ks[:, None] * r + rr[None, :], mask=b_mask, other=0.0)
    g = tl.load(gout_ptr)
    ga = tl.dot(s, tl.trans(b.to(tl.float32)), input_precision="ieee")
    gb = tl.dot(tl.trans(a.to(tl.float32)), s, input_precision="ieee")
    tl.store(ga_ptr + off + rr[:, None] * d + ks[None, :], ga * g, mask=a_mask)
    tl.store(gb_ptr + off + ks[:, None] * r + rr[None, :], gb * g, mask=b_mask)


@triton.jit
def _dw_meta(meta_ptr, layer):
    """Row ``layer`` of the N-LoRA delta_w table: (a_off, b_off, r, d_out, d_in)."""
    meta = meta_ptr + layer * 5
    return tl.load(meta), tl.load(meta + 1), tl.load(meta + 2), tl.load(meta + 3), tl.load(meta + 4)


@triton.jit
def _dw_tile(a_ptr, b_ptr, a_off, b_off, r, d_out, d_in, ms, ns, BLOCK_R: tl.constexpr):
    """The tile delta_W[ms, ns] = B[ms, :] @ A[:, ns] (float32) and the loaded B and A tiles."""
    rr = tl.arange(0, BLOCK_R)
    b = _load_tile(b_ptr + b_off, ms, rr, d_out, r, r)
    a = _load_tile(a_ptr + a_off, rr, ns, r, d_in, d_in)
    return tl.dot(b, a, input_precision="ieee"), b, a


@triton.jit
def _nlora_dw_fwd(
    a_ptr, b_ptr, part_ptr, meta_ptr, n_m, n_n,
    BLOCK_R: tl.constexpr, BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr,
):  # fmt: skip
    layer = tl.program_id(0)
    tm = tl.program_id(1)
    tn = tl.program_id(2)
    a_off, b_off, r, d_out, d_in = _dw_meta(meta_ptr, layer)
    ms = tm * BLOCK_M + tl.arange(0, BLOCK_M)
    ns = tn * BLOCK_N + tl.arange(0, BLOCK_N)
    tile, _b, _a = _dw_tile(a_ptr, b_ptr, a_off, b_off, r, d_out, d_in, ms, ns, BLOCK_R)
    # rows/cols outside the layer load zeros, so their |tile| is 0: no extra mask needed
    tl.store(part_ptr + (layer * n_m + tm) * n_n + tn, tl.sum(tl.abs(tile)))


@triton.jit
def _nlora_dw_bwd_b(
    a_ptr, b_ptr, gb_ptr, meta_ptr, gout_ptr,
    BLOCK_R: tl.constexpr, BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr,
):  # fmt: skip
    """dB[ms, :] = g sum_n sign(dW[ms, n]) @ A[:, n]^T, recomputing dW tile by tile."""
    layer = tl.program_id(0)
    tm = tl.program_id(1)
    a_off, b_off, r, d_out, d_in = _dw_meta(meta_ptr, layer)
    ms = tm * BLOCK_M + tl.arange(0, BLOCK_M)
    rr = tl.arange(0, BLOCK_R)
    acc = tl.zeros((BLOCK_M, BLOCK_R), dtype=tl.float32)
    n_run = tl.where(tm * BLOCK_M < d_out, d_in, 0)
    for n0 in range(0, n_run, BLOCK_N):
        ns = n0 + tl.arange(0, BLOCK_N)
        tile, _b, a = _dw_tile(a_ptr, b_ptr, a_off, b_off, r, d_out, d_in, ms, ns, BLOCK_R)
        s = _sign(tile)
        acc += tl.dot(s, tl.trans(a), input_precision="ieee")
    g = tl.load(gout_ptr)
    _store_tile(gb_ptr + b_off, ms, rr, d_out, r, r, acc * g)


@triton.jit
def _nlora_dw_bwd_a(
    a_ptr, b_ptr, ga_ptr, meta_ptr, gout_ptr,
    BLOCK_R: tl.constexpr, BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr,
):  # fmt: skip
    """dA[:, ns] = g sum_m B[m, :]^T @ sign(dW[m, ns]), recomputing dW tile by tile."""
    layer = tl.program_id(0)
    tn = tl.program_id(1)
    a_off, b_off, r, d_out, d_in = _dw_meta(meta_ptr, layer)
    ns = tn * BLOCK_N + tl.arange(0, BLOCK_N)
    rr = tl.arange(0, BLOCK_R)
    acc = tl.zeros((BLOCK_R, BLOCK_N), dtype=tl.float32)
    m_run = tl.where(tn * BLOCK_N < d_in, d_out, 0)
    for m0 in range(0, m_run, BLOCK_M):
        ms = m0 + tl.arange(0, BLOCK_M)
        tile, b, _a = _dw_tile(a_ptr, b_ptr, a_off, b_off, r, d_out, d_in, ms, ns, BLOCK_R)
        s = _sign(tile)
        acc += tl.dot(tl.trans(b), s, input_precision="ieee")
    g = tl.load(gout_ptr)
    _store_tile(ga_ptr + a_off, rr, ns, r, d_in, d_in, acc * g)


class _NLoRA(torch.autograd.Function):
    @staticmethod
    def forward(ctx, mode: str, n: int, *tensors: torch.Tensor) -> torch.Tensor:
        a_list, b_list = tensors[:n], tensors[n:]
        device = a_list[0].device
        dtype = common_dtype(tensors)
        a_flat, a_offs = pack(a_list, dtype)
        b_flat, b_offs = pack(b_list, dtype)
        a_flat, b_flat = _nonempty(a_flat), _nonempty(b_flat)
        max_r = max(a.shape[0] for a in a_list)
        block_r = _block(max_r)
        ctx.mode, ctx.n, ctx.block_r = mode, n, block_r
        ctx.a_like = [(a.shape, a.dtype) for a in a_list]
        ctx.b_like = [(b.shape, b.dtype) for b in b_list]
        ctx.offs = (a_offs, b_offs)
        if mode == "ab":
            prod_offs, total = [], 0
            for a in a_list:
                prod_offs.append(total)
                total += a.shape[0] ** 2
            rows = [[o, po, a.shape[0], a.shape[1]] for o, po, a in zip(a_offs, prod_offs, a_list)]
            meta = torch.tensor(rows, dtype=torch.int64).to(device)
            prod = torch.empty(max(total, 1), dtype=torch.float32, device=device)
            part = torch.empty(n, dtype=torch.float32, device=device)
            _nlora_ab_fwd[(n,)](
                a_flat, b_flat, prod, part, meta,
                BLOCK_R=block_r, BLOCK_D=64,
            )  # fmt: skip
            ctx.max_d = max(a.shape[1] for a in a_list)
            ctx.save_for_backward(a_flat, b_flat, meta, prod)
            return part.sum()
        rows = [
            [ao, bo, a.shape[0], b.shape[0], a.shape[1]]
            for ao, bo, a, b in zip(a_offs, b_offs, a_list, b_list)
        ]
        meta = torch.tensor(rows, dtype=torch.int64).to(device)
        ctx.max_out = max(b.shape[0] for b in b_list)
        ctx.max_in = max(a.shape[1] for a in a_list)
        n_m, n_n = triton.cdiv(ctx.max_out, 64), triton.cdiv(ctx.max_in, 64)
        part = torch.empty(n * n_m * n_n, dtype=torch.float32, device=device)
        if part.numel():
            _nlora_dw_fwd[(n, n_m, n_n)](
                a_flat, b_flat, part, meta, n_m, n_n,
                BLOCK_R=block_r, BLOCK_M=64, BLOCK_N=64,
            )  # fmt: skip
        ctx.save_for_backward(a_flat, b_flat, meta)
        return part.sum()

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_out: torch.Tensor):
        a_flat, b_flat, meta, *rest = ctx.saved_tensors
        device = a_flat.device
        ga = torch.zeros(a_flat.numel(), dtype=torch.float32, device=device)
        gb = torch.zeros(b_flat.numel(), dtype=torch.float32, device=device)
        gout = grad_out.reshape(1).to(torch.float32).contiguous()
        n = ctx.n
        if ctx.mode == "ab":
            (prod,) = rest
            _nlora_ab_bwd[(n, triton.cdiv(ctx.max_d, 64))](
                a_flat, b_flat, prod, ga, gb, meta, gout, BLOCK_R=ctx.block_r, BLOCK_D=64
            )
        elif ga.numel() + gb.numel():
            consts = dict(BLOCK_R=ctx.block_r, BLOCK_M=64, BLOCK_N=64)
            _nlora_dw_bwd_b[(n, triton.cdiv(ctx.max_out, 64))](
                a_flat, b_flat, gb, meta, gout, **consts
            )
            _nlora_dw_bwd_a[(n, triton.cdiv(ctx.max_in, 64))](
                a_flat, b_flat, ga, meta, gout, **consts
            )
        a_offs, b_offs = ctx.offs
        grads_a = _unpack(ga, a_offs, ctx.a_like)
        grads_b = _unpack(gb, b_offs, ctx.b_like)
        return None, None, *grads_a, *grads_b


def nlora_penalty(
    a_list: Sequence[torch.Tensor], b_list: Sequence[torch.Tensor], mode: str = "ab"
) -> torch.Tensor:
    if not a_list:
        return torch.zeros((), dtype=torch.float32)
    return _NLoRA.apply(mode, len(a_list), *a_list, *b_list)
