"""Stacked task adapters (O-LoRA / N-LoRA / IncLoRA).

Each targeted ``nn.Linear`` (weight ``W [d_out, d_in]``) gets two low-rank branches that share one
dropout mask and one scale ``s = alpha / r``::

    y = W x + b + s * B_old A_old drop(x) + s * B_new A_new drop(x)

``A_old [r_sum, d_in]`` / ``B_old [d_out, r_sum]`` hold every earlier task's adapter stacked along
the rank axis and are frozen buffers; ``A_new [r, d_in]`` / ``B_new [d_out, r]`` are the current
task's trainable parameters. :meth:`StackedLoRALinear.append_new` moves the new adapter onto the
stack, so the stack is exactly the sum of every task's ``delta W``.

Why not PEFT's LoRA layer (which the per-task ``peft`` method uses): here every earlier task's
adapter stays active at once, concatenated along the rank axis, so that all of them and the new
one share ONE dropout mask and run as one fused two-segment low-rank product
(``cl_kernels.lora_linear``: a Triton kernel on CUDA reading ``x`` once for ``[A_old; A_new]``).
PEFT keeps one module per adapter, each with its own dropout and matmuls, so T active adapters
cost T passes over ``x`` and draw T masks; O-LoRA's and N-LoRA's penalties also read ``A_old`` as
one stacked matrix. The saved adapters are PEFT's format all the same (:mod:`.peft_format`).
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn

from cl_kernels import lora_linear


def _lora_linear(x, weight, bias, a_old, b_old, a_new, b_new, scale, dropout, training):
    """``x W^T + b + s * (drop(x) A_old^T) B_old^T + s * (drop(x) A_new^T) B_new^T``, one shared
    dropout mask, through ``cl_kernels.lora_linear`` (fused Triton on CUDA; on CPU its PyTorch
    reference, bit-identical to the former inline code: ``F.dropout`` on the global RNG)."""
    return lora_linear(x, weight, bias, a_old, b_old, a_new, b_new, scale, dropout, training)


class StackedLoRALinear(nn.Module):
    """A frozen ``nn.Linear`` plus a frozen stack of old task adapters and one trainable adapter."""

    def __init__(
        self,
        base: nn.Linear,
        r: int = 8,
        alpha: float = 32.0,
        dropout: float = 0.1,
        dtype: torch.dtype = torch.float32,
    ) -> None:
        super().__init__()
        if not isinstance(base, nn.Linear):
            raise TypeError(f"StackedLoRALinear wraps nn.Linear, got {type(base).__name__}")
        if r <= 0:
            raise ValueError(f"LoRA rank must be positive, got r={r}")
        self.base = base
        self.r = int(r)
        self.alpha = float(alpha)
        self.scale = self.alpha / self.r
        self.dropout = float(dropout)
        d_out, d_in = base.weight.shape
        kw: dict[str, Any] = {"device": base.weight.device, "dtype": dtype}
        self.register_buffer("lora_A_old", torch.zeros(0, d_in, **kw))
        self.register_buffer("lora_B_old", torch.zeros(d_out, 0, **kw))
        self.lora_A = nn.Parameter(torch.empty(self.r, d_in, **kw))
        self.lora_B = nn.Parameter(torch.zeros(d_out, self.r, **kw))
        self.task_ranks: list[int] = []
        self.reset_new()

    @property
    def in_features(self) -> int:
        return self.base.in_features

    @property
    def out_features(self) -> int:
        return self.base.out_features

    @property
    def weight(self) -> torch.Tensor:  # some model code reads `.weight` of projections
        return self.base.weight

    @property
    def bias(self) -> torch.Tensor | None:
        return self.base.bias

    @property
    def r_sum(self) -> int:
        return int(self.lora_A_old.shape[0])

    def reset_new(self, generator: torch.Generator | None = None) -> None:
        """Fresh current adapter: A Kaiming-uniform (a = sqrt(5), nn.Linear's default), B = 0."""
        with torch.no_grad():
            if generator is None:
                nn.init.kaiming_uniform_(self.lora_A, a=math.sqrt(5))
            else:
                bound = 1.0 / math.sqrt(self.lora_A.shape[1])
                self.lora_A.copy_(
                    (torch.rand(self.lora_A.shape, generator=generator) * 2 - 1) * bound
                )
            self.lora_B.zero_()

    @torch.no_grad()
    def append_new(self) -> None:
        """Move the current adapter onto the frozen stack and start a fresh one."""
        self.lora_A_old = torch.cat([self.lora_A_old, self.lora_A.detach().to(self.lora_A_old)], 0)
        self.lora_B_old = torch.cat([self.lora_B_old, self.lora_B.detach().to(self.lora_B_old)], 1)
        self.task_ranks.append(self.r)
        self.reset_new()

    def task_slice(self, k: int) -> tuple[torch.Tensor, torch.Tensor]:
        """A and B of the k-th stacked task adapter."""
        if not 0 <= k < len(self.task_ranks):
            raise IndexError(f"no stacked task adapter {k}; {len(self.task_ranks)} stacked")
        start = sum(self.task_ranks[:k])
        stop = start + self.task_ranks[k]
        return self.lora_A_old[start:stop], self.lora_B_old[:, start:stop]

    @torch.no_grad()
    def push_task(self, a: torch.Tensor, b: torch.Tensor) -> None:
        """Append a saved task adapter (A [r_k, d_in], B [d_out, r_k]) to the frozen stack."""
        if a.shape[1] != self.in_features or b.shape[0] != self.out_features:
            raise ValueError(
                f"adapter shapes A{tuple(a.shape)} B{tuple(b.shape)} do not fit a "
                f"Linear({self.in_features} -> {self.out_features})"
            )
        if a.shape[0] != b.shape[1]:
            raise ValueError(f"adapter ranks differ: A{tuple(a.shape)} B{tuple(b.shape)}")
        self.lora_A_old = torch.cat([self.lora_A_old, a.to(self.lora_A_old)], 0)
        self.lora_B_old = torch.cat([self.lora_B_old, b.to(self.lora_B_old)], 1)
        self.task_ranks.append(int(a.shape[0]))

    def delta_weight(self, include_new: bool = True) -> torch.Tensor:
        """``s * (B_old A_old + B_new A_new)``, the adapter's total update of W (fp32)."""
        delta = self.lora_B_old.float() @ self.lora_A_old.float()
        if include_new:
            delta = delta + self.lora_B.float() @ self.lora_A.float()
        return self.scale * delta

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return _lora_linear(
            x,
            self.base.weight,
            self.base.bias,
            self.lora_A_old,
            self.lora_B_old,
            self.lora_A,
            self.lora_B,
            self.scale,
            self.dropout,
            self.training,
        )

    # The stack grows task by task: state dicts carry the per-task ranks and the loader resizes
    # the buffers to what it is given, so a fresh model can load any task's checkpoint.
    def get_extra_state(self) -> dict[str, Any]:
        return {"task_ranks": list(self.task_ranks), "r": self.r, "alpha": self.alpha}

    def set_extra_state(self, state: dict[str, Any]) -> None:
        self.task_ranks = [int(v) for v in state.get("task_ranks", [])]

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):  # type: ignore[override]
        for name in ("lora_A_old", "lora_B_old"):
            key = prefix + name
            if key in state_dict:
                current = getattr(self, name)
                setattr(self, name, current.new_empty(state_dict[key].shape))
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    def extra_repr(self) -> str:
        return (
            f"in={self.in_features}, out={self.out_features}, r={self.r}, alpha={self.alpha}, "
            f"dropout={self.dropout}, stacked_tasks={len(self.task_ranks)}, r_sum={self.r_sum}"
        )
