"""References of the Fisher/EWC ops, one tensor at a time, arithmetic in float32."""

from __future__ import annotations

from collections.abc import Sequence

import torch


@torch.no_grad()
def fisher_accumulate(
    fishers: Sequence[torch.Tensor], grads: Sequence[torch.Tensor | None], c: float
) -> Sequence[torch.Tensor]:
    """In place ``F_i += c * g_i^2``; pairs whose gradient is None are skipped."""
    for f, g in zip(fishers, grads, strict=True):
        if g is None:
            continue
        g32 = g.float()
        if f.dtype == torch.float32:
            f.addcmul_(g32, g32, value=c)
        else:
            f.copy_(f.float().addcmul_(g32, g32, value=c))
    return fishers


@torch.no_grad()
def fisher_merge(
    f_new: Sequence[torch.Tensor], f_old: Sequence[torch.Tensor], t: float
) -> Sequence[torch.Tensor]:
    """In place ``F_old <- (F_new + t * F_old) / (t + 1)``."""
    inv = 1.0 / (t + 1)
    for new, old in zip(f_new, f_old, strict=True):
        if old.dtype == torch.float32:
            old.mul_(t).add_(new).mul_(inv)
        else:
            old.copy_((new.float() + t * old.float()) * inv)
    return f_old


def ewc_penalty(
    params: Sequence[torch.Tensor],
    anchors: Sequence[torch.Tensor],
    fishers: Sequence[torch.Tensor],
    lam: float,
) -> torch.Tensor:
    """``lam / 2 * sum_i F_i (theta_i - theta*_i)^2``, gradient to ``params`` only."""
    device = params[0].device if params else torch.device("cpu")
    total = torch.zeros((), dtype=torch.float32, device=device)
    for p, a, f in zip(params, anchors, fishers, strict=True):
        diff = p.float() - a.detach().float()
        total = total + (f.detach().float() * diff.square()).sum()
    return total * (lam / 2)
