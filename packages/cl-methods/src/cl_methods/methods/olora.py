"""O-LoRA (Wang et al., 2023): orthogonal subspace learning with stacked task adapters.

    L = CE + lambda_1 * sum_layers sum_ij |(A_old @ A_new^T)_ij| + lambda_2 * sum_P ||P||_F

The orthogonality term is the entry-wise L1 of the ``r_sum x r`` product over the A matrices
(the released code's absolute values; ``orth_norm="l2sq"`` gives the paper's squares). The L2
term is the un-squared Frobenius norm of each new A and B. Both are parameter-only, so the
trainer adds them once per optimizer step and does not divide them by gradient accumulation:
this is what the reference's DeepSpeed setup did in effect. Per-task ``lambda_1``/``lambda_2``
(the order-6 table) arrive through the task's ``params``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import torch
from torch import nn

from ..adapters import adapter_parameters, old_and_new_a
from ..method import TaskContext
from ..penalties import frobenius_sum, orthogonality
from ..registry import register_method
from ._stacked import LoRAMethodConfig, StackedAdapterMethod


@dataclass
class OLoRAConfig(LoRAMethodConfig):
    lambda_1: float = field(
        default=0.5,
        metadata={"help": "orthogonality weight (paper 0.5; a task's params override it)"},
    )
    lambda_2: float = field(
        default=0.0, metadata={"help": "L2 weight on the new adapter (paper 0)"}
    )
    orth_norm: Literal["l1", "l2sq"] = field(
        default="l1",
        metadata={"help": "l1: the released code's absolute values; l2sq: the paper's squares"},
    )


@register_method("olora")
class OLoRA(StackedAdapterMethod):
    config_class = OLoRAConfig
    config: OLoRAConfig

    def __init__(self, config: OLoRAConfig | None = None) -> None:
        super().__init__(config)
        self.lambda_1 = self.config.lambda_1
        self.lambda_2 = self.config.lambda_2

    def on_task_start(self, task: TaskContext, model: nn.Module) -> None:
        super().on_task_start(task, model)
        self.lambda_1 = float(task.params.get("lambda_1", self.config.lambda_1))
        self.lambda_2 = float(task.params.get("lambda_2", self.config.lambda_2))

    def orthogonality_loss(self, model: nn.Module) -> torch.Tensor:
        a_old, a_new = old_and_new_a(model)
        return orthogonality(a_old, a_new, self.config.orth_norm)

    def l2_loss(self, model: nn.Module) -> torch.Tensor:
        params = [p for _, a, b in adapter_parameters(model) for p in (a, b)]
        return frobenius_sum(params)

    def penalty(self, model: nn.Module) -> torch.Tensor | None:
        total = None
        if self.lambda_1:
            total = self.lambda_1 * self.orthogonality_loss(model)
        if self.lambda_2:
            l2 = self.lambda_2 * self.l2_loss(model)
            total = l2 if total is None else total + l2
        return total
