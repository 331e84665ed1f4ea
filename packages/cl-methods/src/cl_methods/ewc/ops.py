"""EWC math on lists of tensors (spec classic-methods.md 2.11).

These are the PyTorch reference versions; cl-kernels provides fused ops with the same names and
signatures, to which these entry points may be routed.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch


def fisher_accumulate(
    fishers: Sequence[torch.Tensor], grads: Sequence[torch.Tensor | None], c: float
) -> Sequence[torch.Tensor]:
    """In place: ``F_i += c * g_i**2`` for every pair (a None gradient adds nothing).

    Minibatch estimator: call once per batch with ``c = n_b / N`` and the gradient of the
    minibatch-mean loss; per-sample estimator: once per example with ``c = 1 / N``.
    """
    if len(fishers) != len(grads):
        raise ValueError(f"{len(fishers)} Fisher tensors but {len(grads)} gradients")
    with torch.no_grad():
        for f, g in zip(fishers, grads):
            if g is not None:
                f.add_(g.detach().to(f.dtype).square(), alpha=c)
    return fishers


def fisher_merge(
    f_new: Sequence[torch.Tensor], f_old: Sequence[torch.Tensor], t: float
) -> Sequence[torch.Tensor]:
    """In place ``F_old <- (F_new + t * F_old) / (t + 1)``, t = index of the finished task (the
    running mean over tasks; t = 0 copies F_new); returns ``f_old``."""
    if len(f_new) != len(f_old):
        raise ValueError(f"{len(f_new)} new Fisher tensors but {len(f_old)} old ones")
    if t <= -1:
        raise ValueError(f"fisher_merge: t must be > -1, got {t}")
    with torch.no_grad():
        for new, old in zip(f_new, f_old):
            old.copy_((new.float() + t * old.float()) / (t + 1))
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
    total = params[0].new_zeros((), dtype=torch.float32)
    for p, a, f in zip(params, anchors, fishers):
        total = total + (f * (p.float() - a).square()).sum()
    return 0.5 * lam * total
