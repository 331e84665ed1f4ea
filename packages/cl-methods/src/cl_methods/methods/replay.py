"""Replay: sequential full fine-tuning plus a replay buffer (spec classic-methods.md 2.2).

The buffer and its rules are the :class:`cl_methods.replay.Replay` component, which this method
holds; other methods hold it the same way (EWC: ``build_method("ewc", {"replay": True})``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from torch import nn

from ..method import MethodConfig, TaskContext
from ..registry import register_method
from ..replay import Replay, ReplayOptions
from .seqft import SeqFT


@dataclass
class ReplayConfig(ReplayOptions, MethodConfig):
    """Spec defaults: capacity 100, random selection, batch-level mixing."""

    replay: bool = field(default=True, metadata={"help": "turn replay on"})


@register_method("replay")
class ReplaySeqFT(SeqFT):
    config_class = ReplayConfig
    config: ReplayConfig

    def __init__(self, config: ReplayConfig | None = None) -> None:
        super().__init__(config)
        self.replay = Replay.from_options(self.config)

    def task_train_data(self, task: TaskContext, data: Sequence[Any]) -> Sequence[Any]:
        return data if self.replay is None else self.replay.task_train_data(task, data)

    def batch_examples(self, task: TaskContext, examples: list[Any]) -> list[Any]:
        return examples if self.replay is None else self.replay.batch_examples(task, examples)

    def on_task_end(self, task: TaskContext, model: nn.Module) -> None:
        if self.replay is not None:
            self.replay.end_task(task, model)

    def state_dict(self) -> dict[str, Any]:
        return {} if self.replay is None else {"replay": self.replay.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if "replay" in state and self.replay is None:
            raise ValueError("checkpoint has a replay buffer but replay is off in the config")
        if self.replay is not None and "replay" in state:
            self.replay.load_state_dict(state["replay"])
