"""Per-task bottleneck ("Pfeiffer") adapters after each block's FFN (AdapterCL, spec §2.10).

``adapter(h) = h + W_up ReLU(W_down h)`` on the FFN's output ``h`` (before the block's residual
addition), ``W_down: d -> d / reduction`` and ``W_up`` zero-initialised (weight and bias), so a
fresh adapter is the identity. Every targeted FFN module is replaced by an :class:`AdaptedFFN`
holding one adapter per task; exactly one task's adapters (or none, ``-1``) are active.

Why not AdapterHub's ``adapters`` package (the classic codebase's choice): its release 1.3.0
requires ``transformers~=4.57`` and this project runs transformers 5.x; PEFT has no bottleneck
adapter. The formula is small enough to own, and a test checks it against the equation.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn


class BottleneckAdapter(nn.Module):
    def __init__(self, dim: int, reduction: int = 16) -> None:
        super().__init__()
        if reduction < 1 or dim // reduction < 1:
            raise ValueError(f"adapter width d/reduction must be >= 1 (d={dim}, r={reduction})")
        self.down = nn.Linear(dim, dim // reduction)
        self.up = nn.Linear(dim // reduction, dim)
        nn.init.zeros_(self.up.weight)
        nn.init.zeros_(self.up.bias)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return h + self.up(torch.relu(self.down(h)))


class AdaptedFFN(nn.Module):
    """``ffn`` followed by the active task's adapter."""

    def __init__(self, ffn: nn.Module, dim: int, num_tasks: int, reduction: int = 16) -> None:
        super().__init__()
        self.ffn = ffn
        self.adapters = nn.ModuleList(BottleneckAdapter(dim, reduction) for _ in range(num_tasks))
        self.active = -1

    def forward(self, *args: Any, **kwargs: Any):
        out = self.ffn(*args, **kwargs)
        if self.active < 0:
            return out
        adapter = self.adapters[self.active]
        if isinstance(out, tuple):
            return (adapter(out[0]), *out[1:])
        return adapter(out)


def attach_task_adapters(
    model: nn.Module,
    num_tasks: int,
    targets: tuple[str, ...] = ("mlp",),
    reduction: int = 16,
    dim: int | None = None,
) -> list[AdaptedFFN]:
    """Replace every module whose last name part is in ``targets`` by an :class:`AdaptedFFN`
    with ``num_tasks`` adapters (none active). A clear error when nothing matches."""
    if num_tasks < 1:
        raise ValueError(f"need >= 1 task adapter, got {num_tasks}")
    dim = dim or int(model.config.hidden_size)
    found = [
        (name, module)
        for name, module in model.named_modules()
        if name.split(".")[-1] in targets and not isinstance(module, AdaptedFFN)
    ]
    if not found:
        leaves = sorted({n.split(".")[-1] for n, _ in model.named_modules() if n})
        raise ValueError(f"no module named {list(targets)} to adapt; module names: {leaves[:16]}")
    wrapped = []
    for name, module in found:
        parent_name, _, leaf = name.rpartition(".")
        parent = model.get_submodule(parent_name) if parent_name else model
        ref = next(module.parameters(), None)
        adapted = AdaptedFFN(module, dim, num_tasks, reduction)
        if ref is not None:
            adapted.adapters.to(device=ref.device, dtype=ref.dtype)
        setattr(parent, leaf, adapted)
        wrapped.append(adapted)
    return wrapped


def task_adapter_layers(model: nn.Module) -> list[AdaptedFFN]:
    return [m for m in model.modules() if isinstance(m, AdaptedFFN)]


def set_active_task_adapter(model: nn.Module, task: int) -> None:
    """Activate task ``task``'s adapters in every adapted FFN (``-1``: none)."""
    for layer in task_adapter_layers(model):
        if task >= len(layer.adapters):
            raise ValueError(f"task {task} outside the {len(layer.adapters)} allocated adapters")
        layer.active = int(task)


def task_adapter_parameters(model: nn.Module, task: int) -> list[nn.Parameter]:
    return [p for layer in task_adapter_layers(model) for p in layer.adapters[task].parameters()]


def task_adapter_state(model: nn.Module, task: int) -> dict[str, torch.Tensor]:
    """Task ``task``'s adapter tensors by the names of their adapted modules."""
    out = {}
    for name, module in model.named_modules():
        if isinstance(module, AdaptedFFN):
            for k, v in module.adapters[task].state_dict().items():
                out[f"{name}.{k}"] = v.detach().cpu().contiguous()
    return out
