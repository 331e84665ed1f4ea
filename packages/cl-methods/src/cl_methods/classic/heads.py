"""Per-task classifier heads: Linear (bias, U(+-1/sqrt(d)) init) and CosineLinear.

CosineLinear computes ``s * cos(x, w_c)`` without bias. The scale ``s`` is fixed (default 1.0,
the reference value behind the SEQ* numbers); ``learnable_scale`` makes it a parameter (init 16).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn


class CosineLinear(nn.Module):
    def __init__(
        self, in_features: int, out_features: int, scale: float = 1.0, learnable_scale: bool = False
    ) -> None:
        super().__init__()
        self.in_features, self.out_features = in_features, out_features
        bound = 1.0 / math.sqrt(in_features)
        self.weight = nn.Parameter(torch.empty(out_features, in_features).uniform_(-bound, bound))
        if learnable_scale:
            self.scale = nn.Parameter(torch.tensor(float(scale)))
        else:
            self.register_buffer("scale", torch.tensor(float(scale)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        cos = F.linear(F.normalize(x, dim=-1), F.normalize(self.weight, dim=-1))
        return self.scale * cos


def make_head(
    kind: str, in_features: int, out_features: int, scale: float = 1.0, learnable: bool = False
) -> nn.Module:
    kind = kind.lower()
    if kind == "linear":
        return nn.Linear(in_features, out_features)  # bias; U(+-1/sqrt(d)) (kaiming a=sqrt(5))
    if kind in ("cosine", "cos", "cosinelinear"):
        return CosineLinear(in_features, out_features, scale, learnable)
    raise ValueError(f"head type must be 'linear' or 'cosine', got {kind!r}")


class TaskHeads(nn.ModuleList):
    """One head per task, all allocated up front (``heads[t]`` has ``CUR_NUM_CLASS[t]`` rows);
    which of them the logits use is the scenario's choice."""

    def __init__(
        self,
        in_features: int,
        cur_num_class: Sequence[int],
        kind: str = "linear",
        cosine_scale: float | None = None,
        cosine_scale_learnable: bool = False,
    ) -> None:
        if cosine_scale is None:
            cosine_scale = 16.0 if cosine_scale_learnable else 1.0
        super().__init__(
            make_head(kind, in_features, int(c), cosine_scale, cosine_scale_learnable)
            for c in cur_num_class
        )
        self.kind = kind

    def logits(self, features: torch.Tensor, upto: int) -> torch.Tensor:
        """Concatenated logits of heads ``0..upto`` (global label order)."""
        return torch.cat([self[t](features) for t in range(upto + 1)], dim=-1)

    def set_rows(self, task: int, rows: torch.Tensor) -> None:
        """Overwrite head ``task``'s weight rows (prototype prediction); a bias becomes 0."""
        head = self[task]
        with torch.no_grad():
            head.weight.copy_(rows.to(head.weight.dtype))
            if getattr(head, "bias", None) is not None:
                head.bias.zero_()
