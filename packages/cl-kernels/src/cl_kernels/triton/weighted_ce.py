"""Triton backend of the token-weighted cross-entropy: the row kernel, plugged into the shared
chunked driver and its ``autograd.Function``s (``cl_kernels._wce_fused``).

One program per row of a (N, V) logits block. It streams the row in ``BLOCK_V`` tiles with an
online log-sum-exp (max and rescaled sum), writes the row's loss ``lse - z[y]`` (0 for an ignored
row) and its ``lse``, and, when asked, the row's gradient ``coef * (softmax(z) - onehot(y))``
(into ``grad``, which may alias ``z``: each tile is read before it is overwritten). ``coef`` is
the row's dL/dl (0 for ignored rows, which therefore get a zero gradient). Given a precomputed
``lse`` (backward of the logits variant) the first sweep is skipped. Math is fp32 whatever the
storage dtype of ``z``/``grad``. Labels arrive with ignored rows rewritten to -1 by the
driver (any negative label means "ignored"), so ignore_index is not a kernel argument.
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl

from .._wce_fused import bind_backend


@triton.jit
def _wce_rows_kernel(
    z_ptr,
    z_stride,
    grad_ptr,
    grad_stride,
    labels_ptr,
    coef_ptr,
    loss_ptr,
    lse_ptr,
    V,
    BLOCK_V: tl.constexpr,
    COMPUTE_LSE: tl.constexpr,
    WRITE_GRAD: tl.constexpr,
):
    row = tl.program_id(0).to(tl.int64)
    z_row = z_ptr + row * z_stride
    y = tl.load(labels_ptr + row)
    ignored = y < 0
    if COMPUTE_LSE:
        m = tl.full((), float("-inf"), tl.float32)
        s = tl.full((), 0.0, tl.float32)
        for off in range(0, V, BLOCK_V):
            cols = off + tl.arange(0, BLOCK_V)
            x = tl.load(z_row + cols, mask=cols < V, other=float("-inf")).to(tl.float32)
            m_new = tl.maximum(m, tl.max(x, 0))
            s = s * tl.exp(m - m_new) + tl.sum(tl.exp(x - m_new), 0)
            m = m_new
        lse = m + tl.log(s)
        y_safe = tl.where(ignored, 0, y)
        zy = tl.load(z_row + y_safe).to(tl.float32)
        tl.store(loss_ptr + row, tl.where(ignored, 0.0, lse - zy))
        tl.store(lse_ptr + row, lse)
    else:
        lse = tl.load(lse_ptr + row)
    if WRITE_GRAD:
        c = tl.load(coef_ptr + row)
        g_row = grad_ptr + row * grad_stride
        for off in range(0, V, BLOCK_V):
            cols = off + tl.arange(0, BLOCK_V)
            x = tl.load(z_row + cols, mask=cols < V, other=0.0).to(tl.float32)
            g = c * tl.exp(x - lse)
            g = tl.where(cols == y, g - c, g)
            tl.store(g_row + cols, g.to(grad_ptr.dtype.element_ty), mask=cols < V)


def _block_v(V: int) -> int:
    return min(4096, triton.next_power_of_2(V))


def rows_forward(
    z: torch.Tensor, labels: torch.Tensor, coef: torch.Tensor | None, write_grad: bool
) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-row loss and lse of ``z`` (N, V); with ``write_grad`` z is overwritten in place by
    ``coef * (softmax - onehot)``. Returns fp32 (loss, lse), each (N,)."""
    n, v = z.shape
    loss = torch.empty(n, device=z.device, dtype=torch.float32)
    lse = torch.empty_like(loss)
    if n == 0:
        return loss, lse
    _wce_rows_kernel[(n,)](
        z,
        z.stride(0),
        z,
        z.stride(0),
        labels,
        coef if coef is not None else loss,
        loss,
        lse,
        v,
        BLOCK_V=_block_v(v),
        COMPUTE_LSE=True,
        WRITE_GRAD=write_grad,
    )
    return loss, lse


def rows_grad(
    z: torch.Tensor, labels: torch.Tensor, coef: torch.Tensor, lse: torch.Tensor
) -> torch.Tensor:
    """``coef * (softmax(z) - onehot)`` from the saved lse, in z's dtype (N, V)."""
    n, v = z.shape
    grad = torch.empty_like(z)
    if n == 0:
        return grad
    _wce_rows_kernel[(n,)](
        z,
        z.stride(0),
        grad,
        grad.stride(0),
        labels,
        coef,
        lse,
        lse,
        v,
        BLOCK_V=_block_v(v),
        COMPUTE_LSE=False,
        WRITE_GRAD=True,
    )
    return grad


# The public-signature entry points the dispatcher loads ("weighted_ce:<name>").
weighted_cross_entropy, weighted_cross_entropy_from_logits = bind_backend("triton")
