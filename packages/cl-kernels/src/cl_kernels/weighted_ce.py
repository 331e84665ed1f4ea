"""Public entry points of the token-weighted cross-entropy (op 3; TAALM's L_w).

``weighted_cross_entropy(hidden, head_weight, labels, token_weights)`` fuses the LM head
projection: tokens go through the head ``chunk_size`` rows at a time and full logits are never
materialised. ``weighted_cross_entropy_from_logits(logits, labels, token_weights)`` takes logits.
Definitions, reductions and the label alignment (``shift_labels=True`` is TAALM's convention:
position t predicts ``labels[:, t+1]`` and the weights are (B, T-1)) are documented in
``cl_kernels.reference.weighted_ce``.

Backends: Triton on CUDA, the C++ row kernels on CPU, else the PyTorch reference (see
``cl_kernels.info()``). ``reduction="none"`` and float64 inputs always use the reference (the
fused paths compute per-token losses in fp32 and return a scalar). Second-order gradients
(``create_graph=True``) are exact on every backend: the fused backward then differentiates the
reference.
"""

from __future__ import annotations

import torch

from . import _probes, reference
from ._dispatch import Op, device_of, dispatch, register_op
from .reference.weighted_ce import (
    EPS,
    REDUCTIONS,
    check_head_shapes,
    check_reduction,
    check_weight_shape,
    expected_weight_shape,
)


def _check(x: torch.Tensor, labels: torch.Tensor, tw: torch.Tensor | None, shift: bool) -> None:
    if labels.dim() != 2 or x.shape[:2] != labels.shape:
        raise ValueError(
            f"labels must be (B, T) matching the first two dims of {tuple(x.shape)}, got "
            f"{tuple(labels.shape)}"
        )
    if labels.dtype not in (torch.int64, torch.int32):
        raise ValueError(f"labels must be integer class ids, got {labels.dtype}")
    check_weight_shape(tw, expected_weight_shape(labels, shift), shift)


def _reference_only(reduction: str, *tensors: torch.Tensor) -> bool:
    return reduction == "none" or any(t.dtype == torch.float64 for t in tensors)


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
    """Token-weighted CE of ``hidden @ head_weight^T`` without materialising the logits.

    hidden (B, T, D), head_weight (V, D), labels (B, T) (ids; ``ignore_index`` drops a token),
    token_weights (B, T), or (B, T-1) with ``shift_labels``, or None for w = 1.
    Gradients reach hidden, head_weight and token_weights.
    """
    check_reduction(reduction, REDUCTIONS)
    check_head_shapes(hidden, head_weight)
    _check(hidden, labels, token_weights, shift_labels)
    if chunk_size is not None and chunk_size < 1:
        raise ValueError(f"chunk_size must be >= 1, got {chunk_size}")
    labels = labels.long()
    kwargs = dict(
        ignore_index=ignore_index,
        reduction=reduction,
        eps=eps,
        shift_labels=shift_labels,
        chunk_size=chunk_size,
    )
    if _reference_only(reduction, hidden, head_weight):
        return reference.weighted_cross_entropy(
            hidden, head_weight, labels, token_weights, **kwargs
        )
    return dispatch(
        "weighted_cross_entropy",
        device_of(hidden),
        hidden,
        head_weight,
        labels,
        token_weights,
        **kwargs,
    )


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
    """Token-weighted CE from logits (B, T, V); gradients reach logits and token_weights.
    Half-precision logits are never upcast as a whole (rows are processed in fp32 registers)."""
    check_reduction(reduction, REDUCTIONS)
    if logits.dim() != 3:
        raise ValueError(f"expected logits (B, T, V), got {tuple(logits.shape)}")
    _check(logits, labels, token_weights, shift_labels)
    labels = labels.long()
    kwargs = dict(
        ignore_index=ignore_index, reduction=reduction, eps=eps, shift_labels=shift_labels
    )
    if _reference_only(reduction, logits):
        return reference.weighted_cross_entropy_from_logits(logits, labels, token_weights, **kwargs)
    return dispatch(
        "weighted_cross_entropy_from_logits",
        device_of(logits),
        logits,
        labels,
        token_weights,
        **kwargs,
    )


register_op(
    Op(
        "weighted_cross_entropy",
        reference.weighted_cross_entropy,
        triton="weighted_ce:weighted_cross_entropy",
        cpp="weighted_ce:weighted_cross_entropy",
        cpp_extension="weighted_ce",
        probe=_probes.weighted_cross_entropy,
    )
)
register_op(
    Op(
        "weighted_cross_entropy_from_logits",
        reference.weighted_cross_entropy_from_logits,
        triton="weighted_ce:weighted_cross_entropy_from_logits",
        cpp="weighted_ce:weighted_cross_entropy_from_logits",
        cpp_extension="weighted_ce",
        probe=_probes.weighted_cross_entropy_from_logits,
    )
)
