"""Parameter-only penalties used by the methods: thin entry points over cl-kernels' fused ops
(Triton on CUDA, C++ on CPU, PyTorch reference otherwise; ``python -m cl_kernels`` says which).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

import cl_kernels


def orthogonality(
    a_old: Sequence[torch.Tensor], a_new: Sequence[torch.Tensor], norm: str = "l1"
) -> torch.Tensor:
    """O-LoRA: ``sum_l sum_ij |(A_old_l @ A_new_l^T)_ij|`` (``"l1"``) or its squares (``"l2sq"``),
    a float32 scalar with gradient to ``A_new`` only, over all layers in one call.

    ``A_old_l`` may have zero rows (task 1), which contributes exactly 0.
    """
    return cl_kernels.orthogonality_penalty(a_old, a_new, norm)


def frobenius_sum(params: Sequence[torch.Tensor]) -> torch.Tensor:
    """Sum of un-squared Frobenius norms ``sum_P ||P||_F`` (O-LoRA's L2 term), float32."""
    return cl_kernels.l2_penalty(params)
