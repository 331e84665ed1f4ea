"""Triton two-segment GEMM for the stacked LoRA linear.

    out[M, N] = A1[M, K1] @ B1[K1, N] + scale * ((A2[M, K2] @ B2[K2, N]) * mask[M, N] * mscale)
                + bias[N]

Every operand is read through its strides, so transposed views (``W^T``, ``B^T``) cost nothing.
The forward pass is one launch with (x, W^T) as the first segment and (drop(x) A^T, B^T) as the
second: the base GEMM and the adapter's up-projection accumulate into the same registers and y is
written once (the unfused form writes y, reads it back and writes it again). The backward pass of
x uses the same kernel with (dy, W) and (dy B, A) and the dropout keep mask on the second segment.
fp32 operands use IEEE fp32 dot products (no TF32) so that fp32 parity holds.

``TritonLoRALinear`` is the autograd.Function: it stacks the old and new ranks into one adapter,
computes the small ``xa = drop(x) A^T`` (N x R) with torch and y in one two-segment launch. dW, db,
dA_old/dB_old and dA_new/dB_new are computed only for inputs that require them (a frozen base and
a frozen stack cost nothing). The dropout keep mask is kept as bool (one byte per element) and
drop(x) is recomputed from it when dA is needed. A backward run with ``create_graph=True``
differentiates the reference (with the same keep mask) instead, so second order stays exact.
"""

from __future__ import annotations

import os
from typing import Any

import torch
import torch.nn.functional as F
import triton
import triton.language as tl

from ..reference.lora_linear import check_lora_shapes, dropout_keep_mask


@triton.jit
def _mm_tile(
    a_ptr, b_ptr, rm, rn, rm_ok, rn_ok, K, s_am, s_ak, s_bk, s_bn,
    BM: tl.constexpr, BN: tl.constexpr, BK: tl.constexpr,
    IEEE: tl.constexpr, UPCAST: tl.constexpr,
):  # fmt: skip
    """The float32 tile ``(A @ B)[rm, rn]`` of A (M, K) and B (K, N) given by strides, BK
    columns of A at a time; rows/columns outside (``rm_ok``/``rn_ok``, k >= K) read as 0."""
    acc = tl.zeros((BM, BN), dtype=tl.float32)
    for k0 in range(0, K, BK):
        rk = k0 + tl.arange(0, BK)
        a = tl.load(
            a_ptr + rm[:, None] * s_am + rk[None, :] * s_ak,
            mask=rm_ok[:, None] & (rk[None, :] < K),
            other=0.0,
        )
        b = tl.load(
            b_ptr + rk[:, None] * s_bk + rn[None, :] * s_bn,
            mask=(rk[:, None] < K) & rn_ok[None, :],
            other=0.0,
        )
        if UPCAST:
            a = a.to(tl.float32)
            b = b.to(tl.float32)
        if IEEE:
            acc += tl.dot(a, b, input_precision="ieee")
        else:
            acc += tl.dot(a, b)
    return acc


@triton.jit
def _two_segment_mm_kernel(
    a1_ptr,
    b1_ptr,
    a2_ptr,
    b2_ptr,
    mask_ptr,
    bias_ptr,
    out_ptr,
    M,
    N,
    K1,
    K2,
    s_a1m,
    s_a1k,
    s_b1k,
    s_b1n,
    s_a2m,
    s_a2k,
    s_b2k,
    s_b2n,
    s_mm,
    s_mn,
    s_om,
    s_on,
    scale,
    mscale,
    HAS_SEG2: tl.constexpr,
    HAS_MASK: tl.constexpr,
    HAS_BIAS: tl.constexpr,
    IEEE: tl.constexpr,
    UPCAST: tl.constexpr,
    BM: tl.constexpr,
    BN: tl.constexpr,
    BK: tl.constexpr,
    BK2: tl.constexpr,
    GROUP_M: tl.constexpr,
):
    # grouped ordering of the 1-D grid: GROUP_M row blocks sweep the column blocks together, so
    # the tiles of B1/B2 they share stay in L2 (the Triton matmul tutorial's scheme)
    pid = tl.program_id(0)
    num_pid_m = tl.cdiv(M, BM)
    num_pid_n = tl.cdiv(N, BN)
    in_group = GROUP_M * num_pid_n
    first_m = (pid // in_group) * GROUP_M
    group_m = tl.minimum(num_pid_m - first_m, GROUP_M)
    pid_m = first_m + ((pid % in_group) % group_m)
    pid_n = (pid % in_group) // group_m
    rm = pid_m * BM + tl.arange(0, BM)
    rn = pid_n * BN + tl.arange(0, BN)
    rm_ok = rm < M
    rn_ok = rn < N
    acc = _mm_tile(
        a1_ptr, b1_ptr, rm, rn, rm_ok, rn_ok, K1, s_a1m, s_a1k, s_b1k, s_b1n,
        BM, BN, BK, IEEE, UPCAST,
    )  # fmt: skip
    if HAS_SEG2:
        acc2 = _mm_tile(
            a2_ptr, b2_ptr, rm, rn, rm_ok, rn_ok, K2, s_a2m, s_a2k, s_b2k, s_b2n,
            BM, BN, BK2, IEEE, UPCAST,
        )  # fmt: skip
        if HAS_MASK:
            keep = tl.load(
                mask_ptr + rm[:, None] * s_mm + rn[None, :] * s_mn,
                mask=rm_ok[:, None] & rn_ok[None, :],
                other=0,
            )
            acc2 = tl.where(keep != 0, acc2 * mscale, 0.0)
        acc += scale * acc2
    if HAS_BIAS:
        acc += tl.load(bias_ptr + rn, mask=rn_ok, other=0.0).to(tl.float32)[None, :]
    tl.store(
        out_ptr + rm[:, None] * s_om + rn[None, :] * s_on,
        acc.to(out_ptr.dtype.element_ty),
        mask=rm_ok[:, None] & rn_ok[None, :],
    )


def two_segment_mm(
    a1: torch.Tensor,
    b1: torch.Tensor,
    a2: torch.Tensor | None = None,
    b2: torch.Tensor | None = None,
    scale: float = 1.0,
    mask: torch.Tensor | None = None,
    mscale: float = 1.0,
    bias: torch.Tensor | None = None,
    out_dtype: torch.dtype | None = None,
) -> torch.Tensor:
    """``a1 @ b1 + scale * ((a2 @ b2) * mask * mscale) + bias`` in one launch (2-D operands)."""
    m, k1 = a1.shape
    n = b1.shape[1]
    out = torch.empty(m, n, device=a1.device, dtype=out_dtype or a1.dtype)
    if m == 0 or n == 0:
        return out
    has_seg2 = a2 is not None and b2 is not None and a2.shape[1] > 0
    k2 = a2.shape[1] if has_seg2 else 0
    interpret = os.environ.get("TRITON_INTERPRET") == "1"
    bm, bn, bk, launch = _tiles(m, n, a1.dtype, interpret)
    bk2 = max(16, min(64, triton.next_power_of_2(max(k2, 1))))
    dummy = a1
    a2_, b2_ = (a2, b2) if has_seg2 else (dummy, dummy)
    mk = mask if mask is not None else dummy
    grid = (triton.cdiv(m, bm) * triton.cdiv(n, bn),)
    # Triton's CPU interpreter (TRITON_INTERPRET=1) computes bf16 tl.dot wrongly (triton 3.x):
    # there the tiles are upcast to fp32 first; compiled GPU code keeps bf16 tensor-core dots.
    upcast = a1.dtype == torch.bfloat16 and interpret
    _two_segment_mm_kernel[grid](
        a1,
        b1,
        a2_,
        b2_,
        mk,
        bias if bias is not None else dummy,
        out,
        m,
        n,
        k1,
        k2,
        a1.stride(0),
        a1.stride(1),
        b1.stride(0),
        b1.stride(1),
        a2_.stride(0),
        a2_.stride(1),
        b2_.stride(0),
        b2_.stride(1),
        mk.stride(0),
        mk.stride(1),
        out.stride(0),
        out.stride(1),
        float(scale),
        float(mscale),
        HAS_SEG2=has_seg2,
        HAS_MASK=mask is not None and has_seg2,
        HAS_BIAS=bias is not None,
        IEEE=a1.dtype == torch.float32 or upcast,
        UPCAST=upcast,
        BM=bm,
        BN=bn,
        BK=bk,
        BK2=bk2,
        GROUP_M=1 if interpret else 8,
        **launch,
    )
    return out


def _tiles(m: int, n: int, dtype: torch.dtype, interpret: bool) -> tuple[int, int, int, dict]:
    """(BM, BN, BK, launch options): tiny tiles in the interpreter; on the GPU the Triton matmul
    tutorial's configurations (128x128x64, 8 warps, 3 stages for 16-bit operands; 64x64x32 for
    IEEE fp32 and for small outputs). Fixed rather than autotuned: the token count M changes
    from batch to batch and would re-trigger autotuning."""
    if interpret:
        return (64, 64, 32, {}) if m * n >= 4096 else (16, 16, 16, {})
    if dtype in (torch.float16, torch.bfloat16) and m * n >= 128 * 128 * 16:
        return 128, 128, 64, {"num_warps": 8, "num_stages": 3}
    return 64, 64, 32, {"num_warps": 4, "num_stages": 3}


def _masked_reference(x, weight, bias, a_old, b_old, a_new, b_new, keep, scale, p):
    """The reference's math with a given keep mask (used for second-order backward)."""
    xd = x if keep is None else x * keep.to(x.dtype) / (1.0 - p)
    a = torch.cat([a_old, a_new], dim=0)
    b = torch.cat([b_old, b_new], dim=1)
    return F.linear(x, weight, bias) + scale * F.linear(F.linear(xd, a), b)


class TritonLoRALinear(torch.autograd.Function):
    """2-D x (N, d_in); every operand already in the compute dtype."""

    @staticmethod
    def forward(  # type: ignore[override]
        ctx: Any,
        x: torch.Tensor,
        weight: torch.Tensor,
        bias: torch.Tensor | None,
        a_old: torch.Tensor,
        b_old: torch.Tensor,
        a_new: torch.Tensor,
        b_new: torch.Tensor,
        keep: torch.Tensor | None,
        scale: float,
        p: float,
    ) -> torch.Tensor:
        a = torch.cat([a_old, a_new], dim=0)
        b = torch.cat([b_old, b_new], dim=1)
        xd = x if keep is None else x * keep.to(x.dtype) * (1.0 / (1.0 - p))
        xa = xd @ a.t()
        y = two_segment_mm(x, weight.t(), xa, b.t(), scale, bias=bias)
        ctx.scale, ctx.p, ctx.r_sum = scale, p, a_old.shape[0]
        ctx.save_for_backward(x, weight, bias, a_old, b_old, a_new, b_new, keep, a, b, xa)
        return y

    @staticmethod
    def backward(ctx: Any, dy: torch.Tensor) -> tuple:  # type: ignore[override]
        x, weight, bias, a_old, b_old, a_new, b_new, keep, a, b, xa = ctx.saved_tensors
        need = ctx.needs_input_grad
        s, p, r0 = ctx.scale, ctx.p, ctx.r_sum
        if torch.is_grad_enabled():  # create_graph=True: differentiate the reference instead
            inputs = (x, weight, bias, a_old, b_old, a_new, b_new)
            wanted = [t for t, n in zip(inputs, need[:7]) if n]
            with torch.enable_grad():
                y = _masked_reference(*inputs, keep, s, p)
                grads = iter(torch.autograd.grad(y, wanted, dy, create_graph=True))
            return (*[next(grads) if n else None for n in need[:7]], None, None, None)
        dy = dy.contiguous()
        need_a = need[3] or need[5]
        dyb = dy @ b if (need[0] or need_a) else None
        gx = gw = gb = ga_old = gb_old = ga_new = gb_new = None
        if need[0]:
            mscale = 1.0 / (1.0 - p) if keep is not None else 1.0
            gx = two_segment_mm(dy, weight, dyb, a, s, mask=keep, mscale=mscale)
        if need[1]:
            gw = dy.t() @ x
        if need[2] and bias is not None:
            gb = dy.sum(0)
        if need_a:
            xd = x if keep is None else x * keep.to(x.dtype) * (1.0 / (1.0 - p))
            if need[3]:
                ga_old = s * (dyb[:, :r0].t() @ xd)
            if need[5]:
                ga_new = s * (dyb[:, r0:].t() @ xd)
        if need[4]:
            gb_old = s * (dy.t() @ xa[:, :r0])
        if need[6]:
            gb_new = s * (dy.t() @ xa[:, r0:])
        return gx, gw, gb, ga_old, gb_old, ga_new, gb_new, None, None, None


def compute_dtype(x: torch.Tensor) -> torch.dtype:
    """x's dtype, or the autocast dtype when autocast is on for x's device (as F.linear does)."""
    if torch.is_autocast_enabled(x.device.type):
        return torch.get_autocast_dtype(x.device.type)
    return x.dtype


def lora_linear(
    x: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor | None,
    a_old: torch.Tensor,
    b_old: torch.Tensor,
    a_new: torch.Tensor,
    b_new: torch.Tensor,
    scale: float,
    dropout_p: float = 0.0,
    training: bool = False,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """The fused path (Triton; CUDA tensors, or CPU under ``TRITON_INTERPRET=1``)."""
    check_lora_shapes(x, weight, a_old, b_old, a_new, b_new, dropout_p)
    d_out, d_in = weight.shape
    dt = compute_dtype(x)
    x2 = x.reshape(-1, d_in).to(dt)
    keep = dropout_keep_mask(x2, dropout_p, generator) if dropout_p > 0 and training else None
    cast = [t.to(dt) for t in (weight, a_old, b_old, a_new, b_new)]
    b = bias.to(dt) if bias is not None else None
    y = TritonLoRALinear.apply(x2, cast[0], b, *cast[1:], keep, float(scale), float(dropout_p))
    return y.view(*x.shape[:-1], d_out)
