"""N-LoRA (Yang et al., COLING 2025): stacked task adapters with a sparsity (L1) penalty.

    L = CE + lambda_1 * sum_layers || P ||_1

As released, ``P = A_w @ B_w`` is the product of the stored weight matrices of the current task's
adapter (``A_w [r, d_in]``, ``B_w [d_out, r]``): an ``r x r`` matrix that only exists when the layer
is square (``d_in == d_out``, true for T5 and LLaMA ``q``/``v``). The paper describes the L1 of
``delta W = B_w A_w``; ``nlora_target="delta_w"`` computes that, and is the only mode that works on
non-square layers (a GQA model's ``v_proj``). ``"ab"`` on a non-square layer fails in ``prepare``,
naming the layer. There is no orthogonality and no L2 term; the penalty applies from task 1 and,
being parameter-only, is added once per optimizer step (not divided by gradient accumulation).
Per-task ``lambda_1`` (the order-4 table) arrives through the task's ``params``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import torch
from torch import nn

from ..adapters import adapter_parameters, stacked_lora_layers
from ..method import TaskContext
from ..penalties import nlora_penalty
from ..registry import register_method
from ._stacked import LoRAMethodConfig, StackedAdapterMethod


@dataclass
class NLoRAConfig(LoRAMethodConfig):
    """lambda_1 = 0.4 is the T5-large value of orders 1-3; nlora_target "ab" is the released
    form, "delta_w" the paper's."""

    lambda_1: float = field(
        default=0.4,
        metadata={
            "help": "L1 sparsity weight (paper T5 orders 1-3: 0.4; a task's params override it)"
        },
    )
    nlora_target: Literal["ab", "delta_w"] = field(
        default="ab",
        metadata={
            "help": "ab: released ||A_w B_w||_1 (square layers); delta_w: the paper's ||B_w A_w||_1"
        },
    )


def check_square_layers(model: nn.Module) -> None:
    """Raise ValueError naming every adapted layer that is not square (``ab`` mode needs it)."""
    bad = [
        f"{name} ({layer.in_features} -> {layer.out_features})"
        for name, layer in stacked_lora_layers(model).items()
        if layer.in_features != layer.out_features
    ]
    if bad:
        raise ValueError(
            f"N-LoRA nlora_target='ab' (the released form, ||A_w @ B_w||_1) needs square adapted "
            f"layers, but {len(bad)} are not: {', '.join(bad[:4])}"
            f"{' ...' if len(bad) > 4 else ''}. A GQA model's k/v projections are narrower than "
            f"q: use nlora_target='delta_w' (--nlora-target delta_w, the paper's ||B_w A_w||_1) "
            f"or adapt only square layers (--targets)"
        )


@register_method("nlora")
class NLoRA(StackedAdapterMethod):
    config_class = NLoRAConfig
    config: NLoRAConfig

    def __init__(self, config: NLoRAConfig | None = None) -> None:
        super().__init__(config)
        self.lambda_1 = self.config.lambda_1

    def prepare(self, model: nn.Module) -> nn.Module:
        model = super().prepare(model)
        if self.config.nlora_target == "ab":
            check_square_layers(model)
        return model

    def on_task_start(self, task: TaskContext, model: nn.Module) -> None:
        super().on_task_start(task, model)
        self.lambda_1 = float(task.params.get("lambda_1", self.config.lambda_1))

    def sparsity_loss(self, model: nn.Module) -> torch.Tensor:
        triples = adapter_parameters(model)
        return nlora_penalty(
            [a for _, a, _ in triples], [b for _, _, b in triples], self.config.nlora_target
        )

    def penalty(self, model: nn.Module) -> torch.Tensor | None:
        if not self.lambda_1:
            return None
        return self.lambda_1 * self.sparsity_loss(model)
