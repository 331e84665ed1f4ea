"""SeqFT: full fine-tuning of every weight, task after task."""

from __future__ import annotations

from torch import nn

from ..method import Method, TaskContext
from ..registry import register_method


@register_method("seqft")
class SeqFT(Method):
    def prepare(self, model: nn.Module) -> nn.Module:
        model.requires_grad_(True)
        return model

    def on_task_start(self, task: TaskContext, model: nn.Module) -> None:
        super().on_task_start(task, model)
        model.requires_grad_(True)
