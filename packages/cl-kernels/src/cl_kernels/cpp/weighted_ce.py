"""C++ backend of the token-weighted cross-entropy: the row kernels of the extension
``cl_kernels._cpp_weighted_ce`` on CPU tensors, plugged into the shared chunked driver
(``cl_kernels._wce_fused``).

The extension reads and writes fp32 and bf16 rows directly (fp32 arithmetic). fp16 logits are
upcast one block of rows at a time (``ROW_BLOCK_ELEMS`` elements), so no full fp32 copy of the
logits is ever made; with ``write_grad`` the block's gradient is cast back into the caller's
tensor.
"""

from __future__ import annotations

from collections.abc import Iterator

import torch

from .. import _cpp_weighted_ce as ext
from .._wce_fused import bind_backend

ROW_BLOCK_ELEMS = 1 << 22


DTYPE_CODES = {torch.float32: 0, torch.bfloat16: 1}


def _row_step(z: torch.Tensor) -> tuple[bool, int]:
    """(direct, rows per block): fp32 and bf16 rows with unit stride are handed over as they are
    (the kernels read and write both); other dtypes (fp16) go through fp32 blocks."""
    n, v = z.shape
    direct = z.dtype in DTYPE_CODES and z.stride(1) == 1
    return direct, max(1, n if direct else ROW_BLOCK_ELEMS // max(v, 1))


def _row_blocks(z: torch.Tensor) -> Iterator[tuple[int, int, bool, torch.Tensor]]:
    """``(start, end, direct, rows)`` per block of rows of ``z``: the rows themselves when
    ``direct``, else an fp32 contiguous copy of them."""
    direct, step = _row_step(z)
    n = z.shape[0]
    for s in range(0, n, step):
        e = min(n, s + step)
        yield s, e, direct, (z[s:e] if direct else z[s:e].to(torch.float32).contiguous())


def rows_forward(
    z: torch.Tensor, labels: torch.Tensor, coef: torch.Tensor | None, write_grad: bool
) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-row loss and lse of ``z`` (N, V); with ``write_grad`` z becomes the gradient."""
    n, v = z.shape
    loss = torch.empty(n, dtype=torch.float32)
    lse = torch.empty(n, dtype=torch.float32)
    labels = labels.contiguous()
    coef = (coef if coef is not None else loss).contiguous()
    for s, e, direct, zc in _row_blocks(z):
        ext.rows_forward(
            zc.data_ptr(),
            zc.stride(0),
            labels.data_ptr() + s * 8,
            coef.data_ptr() + s * 4,
            loss.data_ptr() + s * 4,
            lse.data_ptr() + s * 4,
            e - s,
            v,
            write_grad,
            DTYPE_CODES[zc.dtype],
        )
        if write_grad and not direct:
            z[s:e].copy_(zc)
    return loss, lse


def rows_grad(
    z: torch.Tensor, labels: torch.Tensor, coef: torch.Tensor, lse: torch.Tensor
) -> torch.Tensor:
    """``coef * (softmax(z) - onehot)`` from the saved lse, in z's dtype (N, V)."""
    n, v = z.shape
    grad = torch.empty(n, v, dtype=z.dtype)
    labels, coef, lse = labels.contiguous(), coef.contiguous(), lse.contiguous()
    for s, e, direct, zc in _row_blocks(z):
        gc = grad[s:e] if direct else torch.empty_like(zc)
        ext.rows_grad(
            zc.data_ptr(),
            zc.stride(0),
            gc.data_ptr(),
            gc.stride(0),
            labels.data_ptr() + s * 8,
            coef.data_ptr() + s * 4,
            lse.data_ptr() + s * 4,
            e - s,
            v,
            DTYPE_CODES[zc.dtype],
        )
        if not direct:
            grad[s:e].copy_(gc)
    return grad


# The public-signature entry points the dispatcher loads ("weighted_ce:<name>").
weighted_cross_entropy, weighted_cross_entropy_from_logits = bind_backend("cpp")
