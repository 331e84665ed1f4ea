"""LAMOL_KD (spec classic-methods.md 2.5): LAMOL with per-task generation tokens, and
distillation on the pseudo rows from a frozen copy of the model taken at the task's start (t>0).

- real rows: the LAMOL loss ``L_QA + 0.25 L_GEN``;
- pseudo rows: ``KD_QA + 0.25 KD_GEN``, KD = ``T^2 mean_P KL(teacher_T || student_T)`` at T = 2
  on the supervised positions of the QA and GEN sequences, no hard loss;
- total ``L_real + 1.0 L_pseudo``; an empty subset of a batch contributes 0.

The teacher's weights are in the method's state, so a run resumed mid-task distils from the
teacher of the task's start (``on_task_resume``), not from the half-trained model.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import torch
from torch import nn

from ..generative_replay import kd_loss, qa_gen_logits
from ..method import TaskContext
from ..registry import register_method
from ..teacher import Teacher
from .lamol import Lamol, LamolConfig, LamolOutputs, lamol_loss


@dataclass
class LamolKDConfig(LamolConfig):
    gen_token: Literal["g", "t"] = field(
        default="t", metadata={"help": "t: one __<j>__ token per task (LAMOL_KD's)"}
    )
    kd_temperature: float = field(default=2.0, metadata={"help": "KD temperature T"})
    kd_weight: float = field(default=1.0, metadata={"help": "weight of the KD term"})


def rows_of(batch: dict[str, torch.Tensor], rows: torch.Tensor) -> dict[str, torch.Tensor]:
    """The rows ``rows`` (bool mask) of every tensor of a LAMOL batch."""
    return {k: v[rows] for k, v in batch.items() if torch.is_tensor(v)}


def distill(
    outputs: LamolOutputs,
    batch: dict[str, torch.Tensor],
    teacher: Teacher,
    rows: torch.Tensor,
    temperature: float,
    gen_weight: float,
) -> torch.Tensor:
    """``KD_QA + gen_weight KD_GEN`` over ``rows``; the teacher runs on those rows only."""
    if not bool(rows.any()):
        return outputs.qa_logits.sum() * 0.0
    sub = rows_of(batch, rows)
    with torch.no_grad():
        t_qa, t_gen = qa_gen_logits(teacher.model, sub)
    qa = kd_loss(outputs.qa_logits[rows], t_qa, sub["labels"], temperature)
    gen = kd_loss(outputs.gen_logits[rows], t_gen, sub["gen_labels"], temperature)
    return qa + gen_weight * gen


@register_method("lamol_kd")
class LamolKD(Lamol):
    config_class = LamolKDConfig
    config: LamolKDConfig

    def __init__(self, config: LamolKDConfig | None = None) -> None:
        super().__init__(config)
        self.teacher = Teacher()

    def on_task_start(self, task: TaskContext, model: nn.Module) -> None:
        super().on_task_start(task, model)
        if task.index > 0:
            self.teacher.snapshot(model, task.index)
        else:
            self.teacher.clear()

    def on_task_resume(self, task: TaskContext, model: nn.Module) -> None:
        self.task = task
        if task.index > 0 and not self.teacher.restore(model, task.index):
            raise ValueError(f"the checkpoint holds no teacher of task {task.index}")

    def forward_loss(self, batch: Any, model: nn.Module) -> tuple[torch.Tensor, LamolOutputs]:
        c = self.config
        outputs = LamolOutputs(*qa_gen_logits(model, batch))
        pseudo = batch["is_pseudo"].bool()
        real = lamol_loss(outputs, batch, c.lamol_lambda, rows=~pseudo)
        if not self.teacher:
            if bool(pseudo.any()):
                raise RuntimeError("pseudo rows in a batch but no teacher (task 0?)")
            return real, outputs
        kd = distill(outputs, batch, self.teacher, pseudo, c.kd_temperature, c.lamol_lambda)
        return real + c.kd_weight * kd, outputs

    def on_task_end(self, task: TaskContext, model: nn.Module) -> None:
        self.teacher.clear()

    def state_dict(self) -> dict[str, Any]:
        return super().state_dict() | {"teacher": self.teacher.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        super().load_state_dict(state)
        self.teacher.load_state_dict(state.get("teacher", {}))
