"""Scenarios of the classic CL codebase: class-, task- and instance-incremental learning.

Label spaces follow the ``continual_config`` format: task ``t`` owns the global (CIL) labels
``[PRE_ACCUM[t], ACCUM[t])``; its task-local (TIL) labels are ``cil - PRE_ACCUM[t]`` (derived,
never read from the data: the reference's Concept-1K stores TIL = CIL).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import torch

ILMode = Literal["CIL", "TIL", "IIL"]
IL_MODES: tuple[str, ...] = ("CIL", "TIL", "IIL")


def check_il_mode(mode: str) -> str:
    value = str(mode).upper()
    if value not in IL_MODES:
        raise ValueError(f"il_mode must be one of {IL_MODES}, got {mode!r}")
    return value


@dataclass(frozen=True)
class LabelSpace:
    """Classes per task; ``pre_accum[t]``/``accum[t]`` bound task t's global label range."""

    cur_num_class: tuple[int, ...]

    def __post_init__(self) -> None:
        if not self.cur_num_class or any(int(c) < 1 for c in self.cur_num_class):
            raise ValueError(f"every task needs >= 1 class, got {list(self.cur_num_class)}")
        object.__setattr__(self, "cur_num_class", tuple(int(c) for c in self.cur_num_class))

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> LabelSpace:
        """From a ``continual_config`` mapping (``CUR_NUM_CLASS``; checked against the others)."""
        if "CUR_NUM_CLASS" not in config:
            raise KeyError("continual_config has no CUR_NUM_CLASS")
        space = cls(tuple(config["CUR_NUM_CLASS"]))
        for key, want in (
            ("ACCUM_NUM_CLASS", space.accum),
            ("PRE_ACCUM_NUM_CLASS", space.pre_accum),
        ):
            if key in config and list(config[key]) != list(want):
                raise ValueError(f"continual_config {key}={config[key]} != derived {list(want)}")
        if "NUM_TASK" in config and int(config["NUM_TASK"]) != space.num_tasks:
            raise ValueError(f"NUM_TASK={config['NUM_TASK']} but {space.num_tasks} tasks")
        return space

    @property
    def num_tasks(self) -> int:
        return len(self.cur_num_class)

    @property
    def num_classes(self) -> int:
        return sum(self.cur_num_class)

    @property
    def accum(self) -> tuple[int, ...]:
        out, total = [], 0
        for c in self.cur_num_class:
            total += c
            out.append(total)
        return tuple(out)

    @property
    def pre_accum(self) -> tuple[int, ...]:
        return (0, *self.accum[:-1])

    def task_of(self, label_cil: int) -> int:
        for t, hi in enumerate(self.accum):
            if 0 <= label_cil < hi:
                return t
        raise ValueError(f"label {label_cil} outside [0, {self.num_classes})")

    def til_label(self, label_cil: int, task: int | None = None) -> int:
        t = self.task_of(label_cil) if task is None else task
        local = label_cil - self.pre_accum[t]
        if not 0 <= local < self.cur_num_class[t]:
            raise ValueError(f"label {label_cil} is not in task {t}'s range")
        return local

    def tasks_of(self, labels: torch.Tensor) -> torch.Tensor:
        """The task owning each global label (a tensor of task indices)."""
        bounds = torch.tensor(self.accum, device=labels.device)
        return torch.bucketize(labels, bounds, right=True)

    def check_labels(self, labels: Sequence[int], task: int) -> None:
        lo, hi = self.pre_accum[task], self.accum[task]
        bad = [y for y in labels if not lo <= int(y) < hi]
        if bad:
            raise ValueError(f"task {task} owns labels [{lo}, {hi}); found {sorted(set(bad))[:5]}")
