"""Reference token-weighted cross-entropy (TAALM's L_w, spec taalm.md §3), plain PyTorch.

Tensors over tokens have shape (B, T). A token t of row b contributes ``l_bt``, the cross-entropy
of its label, with weight ``u_bt = w_bt * m_bt`` where ``m_bt = 1[label_bt != ignore_index]``.

- ``reduction="per_sequence"`` (TAALM):  ``mean_b [ sum_t u_bt l_bt / (sum_t u_bt + eps) ]``
- ``reduction="mean"`` (weighted token mean over the batch): ``sum u l / (sum u + eps)``
- ``reduction="none"`` (reference only): the (B,) per-sequence values before the batch mean.

Label alignment. With ``shift_labels=False`` (default) position t's logits predict ``labels[t]``
(labels already aligned, as ``F.cross_entropy`` expects). With ``shift_labels=True`` the labels
are the input ids (B, T) and TAALM's convention applies: logits at t predict ``labels[:, t+1]``
for t = 0..T-2, and ``token_weights`` has shape (B, T-1), aligned with those targets
(``sigmoid(phi_logits)[:, 1:]`` aligns with ``-log_softmax(logits[:, :-1]).gather(ids[:, 1:])``).

``token_weights=None`` means w = 1. Half-precision logits are upcast to fp32 (as TAALM does);
the loss has the upcast dtype. This file is the parity target of the fused kernels and keeps the
exact op order of ``cl_methods.taalm.loss`` so that routing through it changes no bits.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

EPS = 1e-6
REDUCTIONS = ("per_sequence", "mean", "none")


def _upcast(t: torch.Tensor) -> torch.Tensor:
    return t.float() if t.dtype in (torch.float16, torch.bfloat16) else t


def check_reduction(reduction: str, allowed: tuple[str, ...] = REDUCTIONS) -> None:
    if reduction not in allowed:
        raise ValueError(f"reduction must be one of {allowed}, got {reduction!r}")


def check_head_shapes(hidden: torch.Tensor, head_weight: torch.Tensor) -> None:
    """Raise unless hidden is (B, T, D) and head_weight is (V, D)."""
    if hidden.dim() != 3 or head_weight.dim() != 2 or hidden.shape[-1] != head_weight.shape[1]:
        raise ValueError(
            f"expected hidden (B, T, D) and head_weight (V, D), got {tuple(hidden.shape)} and "
            f"{tuple(head_weight.shape)}"
        )


def expected_weight_shape(labels: torch.Tensor, shift_labels: bool) -> tuple[int, int]:
    """Shape token_weights must have for labels (B, T): (B, T-1) with ``shift_labels``."""
    b, t = labels.shape
    return (b, t - 1) if shift_labels else (b, t)


def check_weight_shape(
    token_weights: torch.Tensor | None, expect: tuple[int, ...], shift_labels: bool
) -> None:
    """Raise unless token_weights is None or has shape ``expect``."""
    if token_weights is not None and tuple(token_weights.shape) != expect:
        raise ValueError(
            f"token_weights have shape {tuple(token_weights.shape)}, expected {expect} "
            f"(shift_labels={shift_labels})"
        )


def align_targets(
    logits: torch.Tensor,
    labels: torch.Tensor,
    token_weights: torch.Tensor | None,
    shift_labels: bool,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
    """Slice (logits, labels) into aligned (B, T', ...) pairs and validate the weights' shape."""
    if logits.dim() != 3 or labels.dim() != 2 or logits.shape[:2] != labels.shape:
        raise ValueError(
            f"expected logits (B, T, V) and labels (B, T), got {tuple(logits.shape)} and "
            f"{tuple(labels.shape)}"
        )
    if shift_labels:
        logits, labels = logits[:, :-1], labels[:, 1:]
    check_weight_shape(token_weights, tuple(labels.shape), shift_labels)
    return logits, labels, token_weights


def reduce_weighted(
    nll: torch.Tensor, u: torch.Tensor, reduction: str, eps: float = EPS
) -> torch.Tensor:
    """Apply the reduction to per-token losses ``nll`` and effective weights ``u`` (B, T)."""
    if reduction == "mean":
        return (u * nll).sum() / (u.sum() + eps)
    per_seq = (u * nll).sum(dim=-1) / (u.sum(dim=-1) + eps)
    return per_seq if reduction == "none" else per_seq.mean()


def weighted_cross_entropy_from_logits(
    logits: torch.Tensor,
    labels: torch.Tensor,
    token_weights: torch.Tensor | None = None,
    *,
    ignore_index: int = -100,
    reduction: str = "per_sequence",
    eps: float = EPS,
    shift_labels: bool = False,
) -> torch.Tensor:
    """Token-weighted CE from logits (B, T, V); differentiable in logits and weights, to any
    order (this is the path TAALM's meta-training uses)."""
    check_reduction(reduction)
    logits, labels, token_weights = align_targets(logits, labels, token_weights, shift_labels)
    pred = _upcast(logits)
    nll = F.cross_entropy(
        pred.reshape(-1, pred.shape[-1]),
        labels.reshape(-1),
        ignore_index=ignore_index,
        reduction="none",
    ).view(labels.shape)
    mask = (labels != ignore_index).to(nll.dtype)
    u = mask if token_weights is None else token_weights.to(nll.dtype) * mask
    return reduce_weighted(nll, u, reduction, eps)


def weighted_cross_entropy(
    hidden: torch.Tensor,
    head_weight: torch.Tensor,
    labels: torch.Tensor,
    token_weights: torch.Tensor | None = None,
    *,
    ignore_index: int = -100,
    reduction: str = "per_sequence",
    eps: float = EPS,
    shift_labels: bool = False,
    chunk_size: int | None = None,
) -> torch.Tensor:
    """Token-weighted CE of the LM head ``logits = hidden @ head_weight^T`` (materialised here;
    the fused kernels never do). hidden (B, T, D), head_weight (V, D). ``chunk_size`` is
    accepted for signature parity with the fused backends and ignored."""
    check_head_shapes(hidden, head_weight)
    logits = F.linear(hidden, head_weight)
    return weighted_cross_entropy_from_logits(
        logits,
        labels,
        token_weights,
        ignore_index=ignore_index,
        reduction=reduction,
        eps=eps,
        shift_labels=shift_labels,
    )
