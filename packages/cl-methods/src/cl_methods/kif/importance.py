"""Per-element importance of Recurrent-KIF (spec recurrent-kif.md section 3).

Sensitivity of element j (value theta_j, gradient g_j): ``first`` |theta g|, ``second``
(theta g)^2, ``mix`` |theta g - 0.5 (theta g)^2|. Two EMAs that start at 0, no bias correction::

    I_bar <- b1 I_bar + (1 - b1) I
    U_bar <- b2 U_bar + (1 - b2) |I - I_bar|      (with the I_bar just updated)
    S = I_bar * U_bar

The mask marks the elements whose score is strictly above the q-quantile of one global pool of
scores (every LoRA tensor concatenated), or of each tensor with ``scope="local"``. The quantile
uses ``kthvalue`` so that it works beyond torch.quantile's 2^24-element limit.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any, Literal

import torch

Sensitivity = Literal["first", "second", "mix"]
Scope = Literal["global", "local"]
FP32_EXACT = 2**24  # integers up to here are exact in fp32; torch.quantile refuses larger inputs


def sensitivity(theta: torch.Tensor, grad: torch.Tensor, kind: Sensitivity = "first"):
    """Element-wise sensitivity I of a parameter from its value and gradient (fp32)."""
    prod = theta.detach().float() * grad.detach().float()
    if kind == "first":
        return prod.abs()
    if kind == "second":
        return prod.square()
    if kind == "mix":
        return (prod - 0.5 * prod.square()).abs()
    raise ValueError(f"sensitivity must be 'first', 'second' or 'mix', got {kind!r}")


def quantile_threshold(values: torch.Tensor, q: float) -> torch.Tensor:
    """The q-quantile of ``values`` with linear interpolation (torch/numpy default).

    ``pos = q (N - 1)``, ``lo = floor(pos)``, ``tau = v_lo + (pos - lo)(v_hi - v_lo)`` with
    ``v_hi = v_{min(lo + 1, N - 1)}``. Order statistics come from ``kthvalue`` (any size). Up to
    2^24 elements ``pos`` is computed in fp32 as torch.quantile does; beyond, in fp64.
    """
    flat = values.detach().reshape(-1).float()
    n = flat.numel()
    if n == 0:
        raise ValueError("quantile of an empty tensor")
    if not 0.0 <= q <= 1.0:
        raise ValueError(f"quantile q must be in [0, 1], got {q}")
    if n <= FP32_EXACT:
        pos_t = torch.tensor(q, dtype=torch.float32) * (n - 1)
        lo = int(pos_t.floor().item())
        weight = pos_t - lo
    else:
        pos = q * (n - 1)
        lo = math.floor(pos)
        weight = torch.tensor(pos - lo, dtype=torch.float32)
    lo = min(max(lo, 0), n - 1)
    hi = min(lo + 1, n - 1)
    v_lo = torch.kthvalue(flat, lo + 1).values
    v_hi = v_lo
    if hi != lo and int((flat <= v_lo).sum()) <= hi:  # the next order statistic is larger
        v_hi = flat[flat > v_lo].min()
    return torch.lerp(v_lo, v_hi, weight.to(flat.device))


def importance_masks(
    scores: Mapping[str, torch.Tensor], q: float = 0.8, scope: Scope = "global"
) -> dict[str, torch.Tensor]:
    """Boolean masks ``S > tau``: one threshold for all tensors (global) or one per tensor."""
    if not scores:
        return {}
    if scope == "global":
        pool = torch.cat([s.reshape(-1).float() for s in scores.values()])
        tau = quantile_threshold(pool, q)
        return {name: s > tau for name, s in scores.items()}
    if scope == "local":
        return {name: s > quantile_threshold(s, q) for name, s in scores.items()}
    raise ValueError(f"threshold_scope must be 'global' or 'local', got {scope!r}")


class ImportanceState:
    """The sensitivity and uncertainty EMAs of one loop (inner or outer), keyed by name."""

    def __init__(self, beta1: float = 0.85, beta2: float = 0.85, kind: Sensitivity = "first"):
        self.beta1, self.beta2, self.kind = float(beta1), float(beta2), kind
        self.ibar: dict[str, torch.Tensor] = {}
        self.ubar: dict[str, torch.Tensor] = {}
        self.updates = 0

    @property
    def empty(self) -> bool:
        return self.updates == 0

    @torch.no_grad()
    def update(self, named: Iterable[tuple[str, torch.Tensor, torch.Tensor]]) -> None:
        """One EMA step from ``(name, theta, grad)`` triples (call only with finite gradients)."""
        for name, theta, grad in named:
            sens = sensitivity(theta, grad, self.kind)
            ibar = self.ibar.get(name)
            if ibar is None:
                ibar = torch.zeros_like(sens)
                self.ubar[name] = torch.zeros_like(sens)
            ibar = self.beta1 * ibar + (1 - self.beta1) * sens
            self.ubar[name] = self.beta2 * self.ubar[name] + (1 - self.beta2) * (sens - ibar).abs()
            self.ibar[name] = ibar
        self.updates += 1

    def scores(self) -> dict[str, torch.Tensor]:
        return {name: self.ibar[name] * self.ubar[name] for name in self.ibar}

    def masks(
        self, shapes: Mapping[str, torch.Tensor], q: float = 0.8, scope: Scope = "global"
    ) -> dict[str, torch.Tensor]:
        """Masks for every tensor of ``shapes`` (name -> a tensor of that shape and device);
        all-zero when this state has no scores (every update was skipped)."""
        if self.empty:
            return {
                n: torch.zeros(t.shape, dtype=torch.bool, device=t.device)
                for n, t in shapes.items()
            }
        missing = sorted(set(shapes) - set(self.ibar))
        if missing:
            raise KeyError(f"importance state has no scores for {missing[:4]}")
        scores = self.scores()
        return importance_masks({n: scores[n] for n in shapes}, q, scope)

    def clear(self) -> None:
        self.ibar, self.ubar, self.updates = {}, {}, 0

    def state_dict(self) -> dict[str, Any]:
        return {
            "ibar": {k: v.cpu() for k, v in self.ibar.items()},
            "ubar": {k: v.cpu() for k, v in self.ubar.items()},
            "updates": self.updates,
        }

    def load_state_dict(self, state: Mapping[str, Any], device: torch.device | None = None):
        self.ibar = {k: v.to(device) for k, v in state["ibar"].items()}
        self.ubar = {k: v.to(device) for k, v in state["ubar"].items()}
        self.updates = int(state["updates"])
