"""Parameter-only penalties used by the methods.

These are thin entry points: once cl-kernels provides fused versions, they route there.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch.utils.checkpoint import checkpoint


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


NLORA_MODES = ("ab", "delta_w")


def nlora_penalty(
    a_list: Sequence[torch.Tensor], b_list: Sequence[torch.Tensor], mode: str = "ab"
) -> torch.Tensor:
    """N-LoRA: ``sum_l ||P_l||_1`` (entry-wise L1) over the adapted layers.

    ``a_list[l]`` is the current task's ``A [r, d_in]`` and ``b_list[l]`` its ``B [d_out, r]``.

    - ``mode="ab"`` (the released code): ``P = A @ B``, the product of the stored weight matrices,
      an ``r x r`` matrix that only type-checks when ``d_in == d_out``. A non-square layer raises
      ``ValueError`` naming the layer index and shapes (use ``"delta_w"`` there).
    - ``mode="delta_w"`` (the paper's text): ``P = B @ A = delta W`` (``d_out x d_in``, the LoRA
      scale left out as in the reference). Each layer's product is recomputed in backward
      (activation checkpointing) instead of being kept for it.
    """
    if mode not in NLORA_MODES:
        raise ValueError(f"nlora_penalty mode must be one of {NLORA_MODES}, got {mode!r}")
    if len(a_list) != len(b_list):
        raise ValueError(f"nlora_penalty got {len(a_list)} A matrices and {len(b_list)} B's")
    if not a_list:
        raise ValueError("nlora_penalty needs at least one adapted layer")
    total = a_list[0].new_zeros((), dtype=torch.float32)
    for index, (a, b) in enumerate(zip(a_list, b_list, strict=True)):
        if a.dim() != 2 or b.dim() != 2 or a.shape[0] != b.shape[1]:
            raise ValueError(
                f"nlora_penalty layer {index}: expected A [r, d_in] and B [d_out, r], got "
                f"A{tuple(a.shape)} B{tuple(b.shape)}"
            )
        if mode == "ab":
            if a.shape[1] != b.shape[0]:
                raise ValueError(
                    f"nlora_penalty layer {index}: mode 'ab' multiplies A{tuple(a.shape)} by "
                    f"B{tuple(b.shape)}, which needs a square layer (d_in {a.shape[1]} != d_out "
                    f"{b.shape[0]}, e.g. GQA k/v projections); use mode 'delta_w' "
                    f"(--nlora-target delta_w), the L1 of delta W = B A"
                )
            total = total + _l1_of_product(a, b)
        elif torch.is_grad_enabled() and (a.requires_grad or b.requires_grad):
            # delta W is d_out x d_in (64 MB per layer for LLaMA-7B): recompute it in backward
            # rather than keep one per layer alive until then.
            total = total + checkpoint(_l1_of_product, b, a, use_reentrant=False)
        else:
            total = total + _l1_of_product(b, a)
    return total


def _l1_of_product(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return (x.float() @ y.float()).abs().sum()
