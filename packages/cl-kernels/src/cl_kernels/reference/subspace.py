"""References of the subspace penalties (O-LoRA orthogonality and L2, N-LoRA L1), one layer at a
time. Every value is a float32 scalar computed in float32."""

from __future__ import annotations

from collections.abc import Sequence

import torch


def _zero(tensors: Sequence[torch.Tensor]) -> torch.Tensor:
    device = tensors[0].device if tensors else torch.device("cpu")
    return torch.zeros((), dtype=torch.float32, device=device)


def orthogonality_penalty(
    a_old: Sequence[torch.Tensor], a_new: Sequence[torch.Tensor], norm: str = "l1"
) -> torch.Tensor:
    """``sum_l sum |A_old_l @ A_new_l^T|`` (``l1``) or its squares (``l2sq``); no gradient to
    ``A_old``; a layer whose ``A_old`` has zero rows contributes 0."""
    total = _zero(a_new)
    for old, new in zip(a_old, a_new, strict=True):
        if old.shape[0] == 0 or new.shape[0] == 0:
            continue
        prod = old.detach().float() @ new.float().T
        total = total + (prod.abs().sum() if norm == "l1" else prod.square().sum())
    return total


def l2_penalty(params: Sequence[torch.Tensor]) -> torch.Tensor:
    """``sum_P ||P||_F`` (un-squared Frobenius norms, summed)."""
    total = _zero(params)
    for p in params:
        total = total + torch.linalg.vector_norm(p.float())
    return total


def nlora_penalty(
    a_list: Sequence[torch.Tensor], b_list: Sequence[torch.Tensor], mode: str = "ab"
) -> torch.Tensor:
    """N-LoRA: ``sum_l ||A_l @ B_l||_1`` (``ab``, ``r x r``) or ``sum_l ||B_l @ A_l||_1``
    (``delta_w``, ``d_out x d_in``) with ``A_l [r x d_in]``, ``B_l [d_out x r]``."""
    total = _zero(a_list)
    for a, b in zip(a_list, b_list, strict=True):
        prod = a.float() @ b.float() if mode == "ab" else b.float() @ a.float()
        total = total + prod.abs().sum()
    return total
