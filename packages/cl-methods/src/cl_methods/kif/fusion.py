"""Recurrent-KIF's element-wise fusion of the inner (new task) and outer (memory) changes.

    theta = anchor + c_in * (theta_k - anchor) + c_out * (theta - theta_k)

with the coefficients chosen per element by which loop finds the element important:

| inner | outer | c_in | c_out |
|---|---|---|---|
| yes | yes | 0.4 | 0.6 |
| no  | no  | 0.5 | 0.5 |
| yes | no  | 1   | 0   |
| no  | yes | 0   | 1   |
"""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class FusionTable:
    """``(c_in, c_out)`` for each (inner important, outer important) case; paper defaults."""

    both: tuple[float, float] = (0.4, 0.6)
    neither: tuple[float, float] = (0.5, 0.5)
    inner_only: tuple[float, float] = (1.0, 0.0)
    outer_only: tuple[float, float] = (0.0, 1.0)

    def coefficients(
        self, mask_inner: torch.Tensor, mask_outer: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Element-wise ``(c_in, c_out)`` (fp32) for two boolean masks of the same shape."""
        if mask_inner.shape != mask_outer.shape:
            raise ValueError(
                f"mask shapes differ: {tuple(mask_inner.shape)} vs {tuple(mask_outer.shape)}"
            )
        mi, mo = mask_inner.bool(), mask_outer.bool()
        out = []
        for side in (0, 1):
            c = torch.full(mi.shape, self.neither[side], dtype=torch.float32, device=mi.device)
            c = torch.where(mi & ~mo, torch.tensor(self.inner_only[side], device=mi.device), c)
            c = torch.where(~mi & mo, torch.tensor(self.outer_only[side], device=mi.device), c)
            c = torch.where(mi & mo, torch.tensor(self.both[side], device=mi.device), c)
            out.append(c)
        return out[0], out[1]


def fuse(
    anchor: torch.Tensor,
    theta_k: torch.Tensor,
    theta: torch.Tensor,
    mask_inner: torch.Tensor,
    mask_outer: torch.Tensor,
    table: FusionTable = FusionTable(),
) -> torch.Tensor:
    """The fused value (fp32): ``anchor + c_in (theta_k - anchor) + c_out (theta - theta_k)``."""
    c_in, c_out = table.coefficients(mask_inner, mask_outer)
    anchor = anchor.float()
    delta_in = theta_k.float() - anchor
    delta_out = theta.float() - theta_k.float()
    return anchor + c_in * delta_in + c_out * delta_out
