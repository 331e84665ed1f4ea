"""Opt-in best-on-dev selection (spec recurrent-kif.md decision 6f).

The reference kept, per task, the adapter with the lowest dev loss, measured every 40 steps on
25 dev items of each task seen so far. Dev overlaps test in this benchmark, so this is off by
default (the last weights are kept); ``select_best_on_dev=True`` restores that behaviour.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import nn


class DevSelector:
    """Tracks the lowest mean dev loss of one task's training and the LoRA weights at it."""

    def __init__(self, every: int = 40, per_task: int = 25, batch_size: int = 8) -> None:
        self.every, self.per_task, self.batch_size = int(every), int(per_task), int(batch_size)
        self.dev: dict[str, list[Any]] = {}
        self.reset()

    def reset(self) -> None:
        self.best: dict[str, torch.Tensor] | None = None
        self.best_loss = math.inf
        self.best_step: int | None = None
        self.checks = 0

    def set_dev_data(self, task: str, rows: Sequence[Any]) -> None:
        self.dev[task] = list(rows)[: self.per_task]

    @torch.no_grad()
    def dev_loss(
        self,
        tasks: Sequence[str],
        model: nn.Module,
        compute_loss: Callable[[dict[str, Any]], tuple[torch.Tensor, Any]],
        collate: Callable[[list[Any]], dict[str, Any]],
        device: torch.device,
    ) -> float:
        """Mean batch loss over the dev rows of ``tasks`` (dropout off)."""
        missing = [t for t in tasks if t not in self.dev]
        if missing:
            raise ValueError(
                f"select_best_on_dev: no dev rows for {missing}; call set_dev_data for every task"
            )
        rows = [row for t in tasks for row in self.dev[t]]
        was_training = model.training
        model.eval()
        losses = []
        try:
            for start in range(0, len(rows), self.batch_size):
                batch = collate(rows[start : start + self.batch_size])
                batch = {k: v.to(device) if torch.is_tensor(v) else v for k, v in batch.items()}
                losses.append(float(compute_loss(batch)[0]))
        finally:
            model.train(was_training)
        return sum(losses) / len(losses) if losses else math.inf

    def consider(self, loss: float, step: int, params: dict[str, nn.Parameter]) -> None:
        self.checks += 1
        if math.isfinite(loss) and loss < self.best_loss:
            self.best_loss, self.best_step = loss, step
            self.best = {n: p.detach().clone() for n, p in params.items()}

    @torch.no_grad()
    def restore(self, params: dict[str, nn.Parameter]) -> bool:
        if self.best is None:
            return False
        for name, p in params.items():
            p.copy_(self.best[name])
        return True

    def state_dict(self) -> dict[str, Any]:
        best = None if self.best is None else {k: v.cpu() for k, v in self.best.items()}
        return {
            "best": best,
            "best_loss": self.best_loss,
            "best_step": self.best_step,
            "checks": self.checks,
        }

    def load_state_dict(self, state: dict[str, Any], device: torch.device | None = None) -> None:
        best = state["best"]
        self.best = None if best is None else {k: v.to(device) for k, v in best.items()}
        self.best_loss, self.best_step = state["best_loss"], state["best_step"]
        self.checks = int(state["checks"])
