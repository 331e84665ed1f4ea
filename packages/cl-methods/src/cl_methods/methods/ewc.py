"""EWC (spec classic-methods.md 2.11): for t > 0, ``L = L_task + lam/2 sum F (theta - theta*)^2``,
lam = 5000, theta* = the weights after the previous task, over all parameters.

The logic is :class:`cl_methods.ewc.EWCMixin` (Fisher at task end, running merge, penalty hook,
state); this method adds full fine-tuning (``full_finetune=True``; ``False`` keeps the model's
own ``requires_grad`` flags, e.g. a frozen backbone with trainable heads) and replay through the
``replay_*`` fields: ``build_method("ewc", {"replay": True, "replay_buffer_size": 100})``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from torch import nn

from ..ewc import EWCMixin, EWCOptions
from ..method import Method, MethodConfig, TaskContext
from ..registry import register_method
from ..replay import ReplayMixin, ReplayOptions


@dataclass
class EWCConfig(EWCOptions, ReplayOptions, MethodConfig):
    full_finetune: bool = field(
        default=True,
        metadata={"help": "train every weight (false keeps the model's requires_grad flags)"},
    )


@register_method("ewc")
class EWC(EWCMixin, ReplayMixin, Method):
    config_class = EWCConfig
    config: EWCConfig

    def prepare(self, model: nn.Module) -> nn.Module:
        if self.config.full_finetune:
            model.requires_grad_(True)
        return model

    def on_task_start(self, task: TaskContext, model: nn.Module) -> None:
        if self.config.full_finetune:
            model.requires_grad_(True)
        super().on_task_start(task, model)
