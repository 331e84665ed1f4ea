"""EWC (spec classic-methods.md 2.11): for t > 0, ``L = L_task + lam/2 sum F (theta - theta*)^2``,
lam = 5000, theta* = the weights after the previous task, over all parameters.

The method holds two components: :class:`cl_methods.ewc.EWCRegularizer` (Fisher at task end,
running merge, penalty, state) and, when ``replay`` is on, :class:`cl_methods.replay.Replay`
(``build_method("ewc", {"replay": True, "replay_buffer_size": 100})``). ``full_finetune=True``
trains every weight; ``False`` keeps the model's own ``requires_grad`` flags (e.g. a frozen
backbone with trainable heads).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from ..ewc import EWCOptions, EWCRegularizer
from ..method import Method, MethodConfig, TaskContext
from ..registry import register_method
from ..replay import Replay, ReplayOptions


@dataclass
class EWCConfig(EWCOptions, ReplayOptions, MethodConfig):
    full_finetune: bool = field(
        default=True,
        metadata={"help": "train every weight (false keeps the model's requires_grad flags)"},
    )


@register_method("ewc")
class EWC(Method):
    config_class = EWCConfig
    config: EWCConfig

    def __init__(self, config: EWCConfig | None = None) -> None:
        super().__init__(config)
        self.ewc = EWCRegularizer(self.config)
        self.replay = Replay.from_options(self.config)

    def prepare(self, model: nn.Module) -> nn.Module:
        if self.config.full_finetune:
            model.requires_grad_(True)
        return model

    def on_task_start(self, task: TaskContext, model: nn.Module) -> None:
        super().on_task_start(task, model)
        if self.config.full_finetune:
            model.requires_grad_(True)
        self.ewc.start_task(model)

    def task_train_data(self, task: TaskContext, data: Sequence[Any]) -> Sequence[Any]:
        return data if self.replay is None else self.replay.task_train_data(task, data)

    def batch_examples(self, task: TaskContext, examples: list[Any]) -> list[Any]:
        return examples if self.replay is None else self.replay.batch_examples(task, examples)

    def penalty(self, model: nn.Module) -> torch.Tensor | None:
        return self.ewc.penalty()

    def on_task_end(self, task: TaskContext, model: nn.Module) -> None:
        if self.replay is not None:
            self.replay.end_task(task, model)
        self.ewc.end_task(task, model, self.forward_loss)

    def state_dict(self) -> dict[str, Any]:
        state = self.ewc.state_dict()
        if self.replay is not None:
            state["replay"] = self.replay.state_dict()
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        state = dict(state)
        replay_state = state.pop("replay", None)
        self.ewc.load_state_dict(state)
        if replay_state is not None:
            if self.replay is None:
                raise ValueError("checkpoint has a replay buffer but replay is off in the config")
            self.replay.load_state_dict(replay_state)
