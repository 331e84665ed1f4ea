"""Parameter-only penalties used by the methods.

These are thin entry points: once cl-kernels provides fused versions, they route there.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch


def orthogonality(
    a_old: Sequence[torch.Tensor], a_new: Sequence[torch.Tensor], norm: str = "l1"
) -> torch.Tensor:
    """O-LoRA: ``sum_l sum_ij |(A_old_l @ A_new_l^T)_ij|`` (``"l1"``) or its squares (``"l2sq"``).

    ``A_old_l`` may have zero rows (task 1), which contributes exactly 0.
    """
    if norm not in ("l1", "l2sq"):
        raise ValueError(f"orthogonality norm must be 'l1' or 'l2sq', got {norm!r}")
    total = a_new[0].new_zeros((), dtype=torch.float32)
    for old, new in zip(a_old, a_new, strict=True):
        if old.shape[0] == 0:
            continue
        prod = old.float() @ new.float().T
        total = total + (prod.abs().sum() if norm == "l1" else prod.pow(2).sum())
    return total


def frobenius_sum(params: Sequence[torch.Tensor]) -> torch.Tensor:
    """Sum of un-squared Frobenius norms ``sum_P ||P||_F`` (O-LoRA's L2 term)."""
    total = params[0].new_zeros((), dtype=torch.float32)
    for p in params:
        total = total + torch.linalg.vector_norm(p.float())
    return total
