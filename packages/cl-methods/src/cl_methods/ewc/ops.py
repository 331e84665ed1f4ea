"""EWC math on lists of tensors (spec classic-methods.md 2.11): thin entry points over
cl-kernels' fused ops (Triton on CUDA, C++ on CPU, the PyTorch reference otherwise)."""

from __future__ import annotations

from collections.abc import Sequence

import torch

import cl_kernels


def fisher_accumulate(
    fishers: Sequence[torch.Tensor], grads: Sequence[torch.Tensor | None], c: float
) -> Sequence[torch.Tensor]:
    """In place: ``F_i += c * g_i**2`` for every pair (a None gradient adds nothing).

    Minibatch estimator: call once per batch with ``c = n_b / N`` and the gradient of the
    minibatch-mean loss; per-sample estimator: once per example with ``c = 1 / N``.
    """
    if len(fishers) != len(grads):
        raise ValueError(f"{len(fishers)} Fisher tensors but {len(grads)} gradients")
    cast = [
        None if g is None else g.detach().to(f.dtype) for f, g in zip(fishers, grads, strict=True)
    ]
    cl_kernels.fisher_accumulate(fishers, cast, c)
    return fishers


def fisher_merge(
    f_new: Sequence[torch.Tensor], f_old: Sequence[torch.Tensor], t: float
) -> Sequence[torch.Tensor]:
    """In place ``F_old <- (F_new + t * F_old) / (t + 1)``, t = index of the finished task (the
    running mean over tasks; t = 0 copies F_new); returns ``f_old``."""
    if len(f_new) != len(f_old):
        raise ValueError(f"{len(f_new)} new Fisher tensors but {len(f_old)} old ones")
    cl_kernels.fisher_merge(f_new, f_old, t)
    return f_old


def ewc_penalty(
    params: Sequence[torch.Tensor],
    anchors: Sequence[torch.Tensor],
    fishers: Sequence[torch.Tensor],
    lam: float,
) -> torch.Tensor:
    """``lam / 2 * sum_i F_i * (theta_i - theta*_i)**2``, differentiable in ``params``."""
    if not (len(params) == len(anchors) == len(fishers)):
        raise ValueError(
            f"lengths differ: {len(params)} params, {len(anchors)} anchors, {len(fishers)} fishers"
        )
    if not params:
        return torch.zeros(())
    return cl_kernels.ewc_penalty(params, anchors, fishers, lam)
