"""Replay as a component a method holds and calls (spec classic-methods.md section 2.2).

A method config inherits :class:`ReplayOptions` (flat ``replay_*`` fields, so every one is a
command-line key); the method holds ``Replay.from_options(config)`` (None when ``replay`` is off)
and calls it from its own hooks::

    @dataclass
    class MyConfig(ReplayOptions, MethodConfig): ...

    class My(Method):
        def __init__(self, config=None):
            super().__init__(config)
            self.replay = Replay.from_options(self.config)

        def batch_examples(self, task, rows):
            return rows if self.replay is None else self.replay.batch_examples(task, rows)

        def on_task_end(self, task, model):
            if self.replay is not None:
                self.replay.end_task(task, model)

        # task_train_data, state_dict / load_state_dict: the same pattern

``replay=True`` turns it on. ``replay_mode="class"`` keeps a class-balanced buffer of
``replay_buffer_size`` examples, chosen by ``replay_selection`` ("random" or "herding") with
labels read from each example's ``replay_label_key`` field; ``replay_mode="ratio"`` keeps
``floor(replay_ratio * |D_t|)`` examples of every task (generation, unlabeled data).
``replay_batch_level=True``: for t > 0 each micro-batch of n new rows gets
``replay_rows_per_batch`` (default n) buffer rows drawn with replacement, so a recipe with batch
size B runs the trainer with B/2 to get mixed batches of B rows. ``False``: the buffer is appended
to the task's data. The buffer is filled at the end of each task and saved in the method state.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import torch
from torch import nn

from ..method import TaskContext
from .buffer import ClassBalancedBuffer, RatioBuffer, ReplayBuffer
from .features import last_token_features
from .mixing import dataset_with_buffer, mix_examples

FeatureFn = Callable[[nn.Module, list[Any]], torch.Tensor]


@dataclass
class ReplayOptions:
    """Replay fields of a method config (defaults: spec 2.2)."""

    replay: bool = field(default=False, metadata={"help": "turn replay on"})
    replay_mode: Literal["class", "ratio"] = field(
        default="class",
        metadata={
            "help": "class (class-balanced buffer of replay_buffer_size) or ratio (share of a task)"
        },
    )
    replay_buffer_size: int = field(
        default=100, metadata={"help": "buffer size M of class mode (spec 100)"}
    )
    replay_selection: Literal["random", "herding"] = field(
        default="random", metadata={"help": "random or herding"}
    )
    replay_fixed_budget_per_class: bool = field(
        default=False, metadata={"help": "a fixed number of rows per class instead of M shared"}
    )
    replay_num_class: int | None = field(
        default=None, metadata={"help": "classes sharing the buffer (null: those seen)"}
    )
    replay_ratio: float = field(
        default=0.01, metadata={"help": "ratio mode: floor(ratio * |D_t|) rows kept per task"}
    )
    replay_batch_level: bool = field(
        default=True,
        metadata={
            "help": "mix buffer rows into each micro-batch (else append the buffer to the data)"
        },
    )
    replay_rows_per_batch: int | None = field(
        default=None, metadata={"help": "buffer rows per micro-batch (null: as many as new rows)"}
    )
    replay_label_key: str = field(
        default="label_idx_cil", metadata={"help": "field of a row holding its class label"}
    )
    replay_seed: int = field(
        default=1, metadata={"help": "seed of the buffer's selection and draws"}
    )


def field_of(example: Any, key: str) -> Any:
    """``example[key]`` for mappings, else ``getattr(example, key)``; a clear error if absent."""
    if isinstance(example, Mapping):
        if key not in example:
            raise KeyError(f"replay: example has no {key!r} field (fields: {sorted(example)})")
        return example[key]
    if not hasattr(example, key):
        raise KeyError(f"replay: example of type {type(example).__name__} has no {key!r}")
    return getattr(example, key)


class Replay:
    """The buffer plus the rules for using it; see the module docstring."""

    def __init__(self, options: ReplayOptions) -> None:
        self.options = options
        self.buffer: ReplayBuffer
        if options.replay_mode == "class":
            self.buffer = ClassBalancedBuffer(
                options.replay_buffer_size,
                selection=options.replay_selection,
                fixed_budget_per_class=options.replay_fixed_budget_per_class,
                num_class=options.replay_num_class,
                seed=options.replay_seed,
            )
        elif options.replay_mode == "ratio":
            self.buffer = RatioBuffer(options.replay_ratio, seed=options.replay_seed)
        else:
            raise ValueError(f"replay_mode must be 'class' or 'ratio', got {options.replay_mode!r}")
        self.draws = 0  # micro-batches mixed so far (keys the draws, so a resumed run repeats them)
        self.features: FeatureFn | None = None  # herding features (default: last_token_features)
        self.num_seen_classes: int | None = None  # ACCUM[t] when a scenario knows it

    @classmethod
    def from_options(cls, options: Any) -> Replay | None:
        """The component of a config inheriting :class:`ReplayOptions`, or None when its
        ``replay`` is off."""
        if not isinstance(options, ReplayOptions):
            raise TypeError(
                f"{type(options).__name__} does not inherit ReplayOptions (no replay_* fields)"
            )
        return cls(options) if options.replay else None

    def task_train_data(self, task: TaskContext, data: Sequence[Any]) -> Sequence[Any]:
        if self.options.replay_batch_level or task.index == 0 or len(self.buffer) == 0:
            return data
        return dataset_with_buffer(data, self.buffer)

    def batch_examples(self, task: TaskContext, examples: list[Any]) -> list[Any]:
        if not self.options.replay_batch_level or task.index == 0 or len(self.buffer) == 0:
            return examples
        rng = np.random.default_rng([self.options.replay_seed, task.index, self.draws, task.rank])
        self.draws += 1
        k = self.options.replay_rows_per_batch or len(examples)
        return mix_examples(examples, self.buffer, k, rng)

    def end_task(self, task: TaskContext, model: nn.Module) -> None:
        """Fill the buffer from the task's training data (``task.train_data``). Herding uses
        :attr:`features` (``(model, examples) -> (n, d)``) when set, else the model's own
        features; the class quota uses :attr:`num_seen_classes` when set, else
        ``task.params["accum_num_class"]``, else the distinct labels seen so far."""
        features, num_seen_classes = self.features, self.num_seen_classes
        data = list(task.train_data or [])
        if isinstance(self.buffer, RatioBuffer):
            self.buffer.update(data, task_index=task.index)
            return
        labels = [field_of(ex, self.options.replay_label_key) for ex in data]
        feats = None
        if self.options.replay_selection == "herding":
            if features is not None:
                feats = features(model, data)
            elif task.collate is not None:
                feats = last_token_features(model, data, task.collate)
            else:
                raise ValueError("herding replay needs a feature function or the task's collate")
        seen = num_seen_classes
        if seen is None and "accum_num_class" in task.params:
            seen = int(task.params["accum_num_class"])
        self.buffer.update(
            data, labels, task_index=task.index, num_seen_classes=seen, features=feats
        )

    def state_dict(self) -> dict[str, Any]:
        return {"buffer": self.buffer.state_dict(), "draws": self.draws}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.buffer.load_state_dict(state["buffer"])
        self.draws = int(state["draws"])
