"""Differentiable, out-of-place AdamW (spec §4), used for the inner theta steps and for phi.

    t <- t + 1;  p <- p (1 - lr wd)
    m <- b1 m + (1 - b1) g;   v <- b2 v + (1 - b2) g^2
    den <- (sqrt(v + eps) + eps) / sqrt(1 - b2^t) + eps
    p <- p - (lr / (1 - b1^t)) m / den

Bias correction comes after the two inner eps terms, unlike ``torch.optim.AdamW``; the eps inside
the square root keeps the derivative finite at v = 0. Nothing is modified in place, so gradients
flow through the update when the inputs carry a graph.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field

import torch


@dataclass
class AdamState:
    """Step count and the first and second moments, keyed like the parameters."""

    step: int = 0
    exp_avg: dict[str, torch.Tensor] = field(default_factory=dict)
    exp_avg_sq: dict[str, torch.Tensor] = field(default_factory=dict)

    @classmethod
    def zeros_like(cls, params: Mapping[str, torch.Tensor]) -> AdamState:
        return cls(
            0,
            {
                k: torch.zeros_like(v, memory_format=torch.preserve_format)
                for k, v in params.items()
            },
            {
                k: torch.zeros_like(v, memory_format=torch.preserve_format)
                for k, v in params.items()
            },
        )

    def detach(self) -> AdamState:
        return AdamState(
            self.step,
            {k: v.detach() for k, v in self.exp_avg.items()},
            {k: v.detach() for k, v in self.exp_avg_sq.items()},
        )

    def state_dict(self) -> dict:
        return {
            "step": self.step,
            "exp_avg": dict(self.exp_avg),
            "exp_avg_sq": dict(self.exp_avg_sq),
        }

    @classmethod
    def from_state_dict(cls, state: Mapping) -> AdamState:
        return cls(int(state["step"]), dict(state["exp_avg"]), dict(state["exp_avg_sq"]))


def adamw_step(
    params: Mapping[str, torch.Tensor],
    grads: Mapping[str, torch.Tensor],
    state: AdamState,
    *,
    lr: float = 2e-4,
    betas: tuple[float, float] = (0.9, 0.999),
    weight_decay: float = 0.01,
    eps: float = 1e-8,
) -> tuple[dict[str, torch.Tensor], AdamState]:
    """One AdamW step; returns new parameters and a new state (inputs are left untouched)."""
    missing = set(params) - set(grads)
    if missing:
        raise KeyError(f"no gradient for {sorted(missing)[:5]}")
    b1, b2 = betas
    t = state.step + 1
    bc1 = 1.0 - b1**t
    sqrt_bc2 = math.sqrt(1.0 - b2**t)
    new_p: dict[str, torch.Tensor] = {}
    new_m: dict[str, torch.Tensor] = {}
    new_v: dict[str, torch.Tensor] = {}
    for k, p in params.items():
        g = grads[k]
        m = state.exp_avg[k] * b1 + g * (1.0 - b1) if k in state.exp_avg else g * (1.0 - b1)
        v = (
            state.exp_avg_sq[k] * b2 + g * g * (1.0 - b2)
            if k in state.exp_avg_sq
            else g * g * (1.0 - b2)
        )
        den = (torch.sqrt(v + eps) + eps) / sqrt_bc2 + eps
        decayed = p * (1.0 - lr * weight_decay)
        new_p[k] = decayed - (lr / bc1) * m / den
        new_m[k], new_v[k] = m, v
    return new_p, AdamState(t, new_m, new_v)
