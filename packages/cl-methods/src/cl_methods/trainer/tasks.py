"""What the trainer consumes: tasks, the batch keys it passes to a model, the evaluation call."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from accelerate import Accelerator
from torch import nn

from .results import TaskScore

# Keys of a collated batch passed to ``model(**batch)`` (others stay for the method's hooks).
MODEL_INPUT_KEYS = (
    "input_ids",
    "attention_mask",
    "labels",
    "decoder_input_ids",
    "decoder_attention_mask",
    "token_type_ids",
    "position_ids",
)

# evaluate(model, task, accelerator) -> TaskScore or a number, called on every process
Evaluate = Callable[[nn.Module, Any, Accelerator], "TaskScore | float"]


@dataclass
class TrainTask:
    """A task as the trainer sees it. Any object with ``name`` and ``train`` (and optionally
    ``collate`` and ``params``: per-task ``lr``, ``epochs`` and method hyperparameters) works;
    this dataclass is a convenience."""

    name: str
    train: Sequence[Any]
    collate: Callable[[list[Any]], dict[str, Any]] | None = None
    params: dict[str, Any] = field(default_factory=dict)
    eval: Any = None
