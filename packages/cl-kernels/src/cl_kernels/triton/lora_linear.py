"""Triton two-segment GEMM for the stacked LoRA linear.

    out[M, N] = A1[M, K1] @ B1[K1, N] + scale * ((A2[M, K2] @ B2[K2, N]) * mask[M, N] * mscale)
                + bias[N]

Every operand is read through its strides, so transposed views (``W^T``, ``B^T``) cost nothing.
The forward pass is one launch with (x, W^T) as the first segment and (drop(x) A^T, B^T) as the
second: the base GEMM and the adapter's up-projection accumulate into the same registers and y is
written once (the unfused form writes y, reads it back and writes it again). The backward pass of
x uses the same kernel with (dy, W) and (dy B, A) and the dropout keep mask on the second segment.
fp32 operands use IEEE fp32 dot products (no TF32) so that fp32 parity holds.
"""

from __future__ import annotations

import os

import torch
import triton
import triton.language as tl


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
):
    pid_m = tl.program_id(0)
    pid_n = tl.program_id(1)
    rm = pid_m * BM + tl.arange(0, BM)
    rn = pid_n * BN + tl.arange(0, BN)
    rm_ok = rm < M
    rn_ok = rn < N
    acc = tl.zeros((BM, BN), dtype=tl.float32)
    for k0 in range(0, K1, BK):
        rk = k0 + tl.arange(0, BK)
        a = tl.load(
            a1_ptr + rm[:, None] * s_a1m + rk[None, :] * s_a1k,
            mask=rm_ok[:, None] & (rk[None, :] < K1),
            other=0.0,
        )
        b = tl.load(
            b1_ptr + rk[:, None] * s_b1k + rn[None, :] * s_b1n,
            mask=(rk[:, None] < K1) & rn_ok[None, :],
            other=0.0,
        )
        if UPCAST:
            a = a.to(tl.float32)
            b = b.to(tl.float32)
        if IEEE:
            acc += tl.dot(a, b, input_precision="ieee")
        else:
            acc += tl.dot(a, b)
    if HAS_SEG2:
        acc2 = tl.zeros((BM, BN), dtype=tl.float32)
        for k0 in range(0, K2, BK2):
            rk = k0 + tl.arange(0, BK2)
            a = tl.load(
                a2_ptr + rm[:, None] * s_a2m + rk[None, :] * s_a2k,
                mask=rm_ok[:, None] & (rk[None, :] < K2),
                other=0.0,
            )
            b = tl.load(
                b2_ptr + rk[:, None] * s_b2k + rn[None, :] * s_b2n,
                mask=(rk[:, None] < K2) & rn_ok[None, :],
                other=0.0,
            )
            if UPCAST:
                a = a.to(tl.float32)
                b = b.to(tl.float32)
            if IEEE:
                acc2 += tl.dot(a, b, input_precision="ieee")
            else:
                acc2 += tl.dot(a, b)
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
    bm, bn, bk = (64, 64, 32) if m * n >= 4096 else (16, 16, 16)
    bk2 = max(16, min(64, triton.next_power_of_2(max(k2, 1))))
    dummy = a1
    a2_, b2_ = (a2, b2) if has_seg2 else (dummy, dummy)
    mk = mask if mask is not None else dummy
    grid = (triton.cdiv(m, bm), triton.cdiv(n, bn))
    # Triton's CPU interpreter (TRITON_INTERPRET=1) computes bf16 tl.dot wrongly (triton 3.x):
    # there the tiles are upcast to fp32 first; compiled GPU code keeps bf16 tensor-core dots.
    upcast = a1.dtype == torch.bfloat16 and os.environ.get("TRITON_INTERPRET") == "1"
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
    )
    return out
