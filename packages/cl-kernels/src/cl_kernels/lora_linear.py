"""Stacked LoRA linear (op 4): ``y = x W^T + b + s * (drop(x) A^T) B^T`` with
``A = [A_old; A_new]`` and ``B = [B_old, B_new]`` (one shared dropout mask).

The fused path (Triton) stacks the old and new ranks into one adapter, computes the small
``xa = drop(x) A^T`` (N x R) and then y in ONE two-segment GEMM launch (base and adapter
accumulate in the same tile). Backward: dx with the same kernel on (dy, W) and (dy B, A) with the
dropout mask applied to the adapter segment; dW, db, dA_old/dB_old and dA_new/dB_new only for the
inputs that require them (a frozen base and a frozen stack cost nothing). The dropout keep mask is
stored as bool (one byte per element) and drop(x) is recomputed from it when dA is needed.

Second order: a backward run with ``create_graph=True`` differentiates the reference (given the
same keep mask) instead of the kernels, so higher-order gradients stay exact.

Dropout: with ``generator`` the mask is ``bernoulli(1 - p)`` drawn from it (the reference draws it
the same way, so they agree bit for bit on the mask); without one it comes from the global RNG.
The CPU path is the reference (see ``cl_kernels.info()`` for why there is no C++ kernel).
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

from .reference.lora_linear import check_lora_shapes, dropout_keep_mask


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
        from .triton.lora_linear import two_segment_mm

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
        from .triton.lora_linear import two_segment_mm

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


def triton_lora_linear(
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
