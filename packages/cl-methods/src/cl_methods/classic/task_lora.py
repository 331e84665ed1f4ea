"""One LoRA adapter per task on each targeted ``nn.Linear``, exactly one active at a time.

``y = W x + b + (alpha/r) * B_a A_a drop(x)`` with ``a`` the active task (``-1``: none). The
spec's per-task PEFT uses r=4, alpha=8, dropout 0.1. A_t is Kaiming-uniform, B_t zero.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


class TaskLoRALinear(nn.Module):
    def __init__(
        self, base: nn.Linear, num_tasks: int, r: int = 4, alpha: float = 8.0, dropout: float = 0.1
    ) -> None:
        super().__init__()
        if not isinstance(base, nn.Linear):
            raise TypeError(f"TaskLoRALinear wraps nn.Linear, got {type(base).__name__}")
        self.base = base
        self.scale = float(alpha) / int(r)
        self.dropout = float(dropout)
        d_out, d_in = base.weight.shape
        kw = {"device": base.weight.device, "dtype": base.weight.dtype}
        self.lora_A = nn.ParameterList(
            nn.Parameter(torch.empty(r, d_in, **kw)) for _ in range(num_tasks)
        )
        self.lora_B = nn.ParameterList(
            nn.Parameter(torch.zeros(d_out, r, **kw)) for _ in range(num_tasks)
        )
        for a in self.lora_A:
            nn.init.kaiming_uniform_(a, a=math.sqrt(5))
        self.active = -1

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.base(x)
        if self.active < 0:
            return y
        xd = F.dropout(x, self.dropout, self.training) if self.dropout > 0 else x
        a, b = self.lora_A[self.active], self.lora_B[self.active]
        return y + self.scale * F.linear(F.linear(xd, a), b)


def attach_task_lora(
    model: nn.Module,
    targets: tuple[str, ...],
    num_tasks: int,
    r: int = 4,
    alpha: float = 8.0,
    dropout: float = 0.1,
) -> dict[str, TaskLoRALinear]:
    """Replace every ``nn.Linear`` whose name ends in one of ``targets``; error if none match."""
    found = {}
    for name, module in list(model.named_modules()):
        if not isinstance(module, nn.Linear) or name.split(".")[-1] not in targets:
            continue
        if name.startswith("heads.") or name == "heads":
            continue
        parent_name, _, leaf = name.rpartition(".")
        parent = model.get_submodule(parent_name) if parent_name else model
        layer = TaskLoRALinear(module, num_tasks, r, alpha, dropout)
        setattr(parent, leaf, layer)
        found[name] = layer
    if not found:
        leaves = sorted(
            {n.split(".")[-1] for n, m in model.named_modules() if isinstance(m, nn.Linear)}
        )
        raise ValueError(f"no Linear module ends in {list(targets)}; Linear leaves: {leaves[:12]}")
    return found


def task_lora_layers(model: nn.Module) -> dict[str, TaskLoRALinear]:
    return {n: m for n, m in model.named_modules() if isinstance(m, TaskLoRALinear)}


def set_active_adapter(model: nn.Module, task: int) -> None:
    for layer in task_lora_layers(model).values():
        layer.active = int(task)


def adapter_params(model: nn.Module, task: int) -> list[nn.Parameter]:
    return [
        p
        for layer in task_lora_layers(model).values()
        for p in (layer.lora_A[task], layer.lora_B[task])
    ]
