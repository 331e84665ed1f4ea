"""L2KD, word-level KD (spec classic-methods.md 2.6): LAMOL with per-task generation tokens where,
for each task t>0, a FRESH teacher is first trained from the pretrained weights on D_t alone
(the LAMOL loss, the task's epochs, the run's lr and weight decay, its own AdamW), then the
student learns the new task from it:

- real rows: ``KD_QA + 0.25 KD_GEN`` at T = 2, no hard loss;
- pseudo rows: the hard LAMOL loss;
- total ``L_pseudo + 1.0 L_KD``. Task 0 is plain LAMOL. Pseudo samples come in batches of 4.

The teacher is trained when the task's optimizer is built (``task_optimizer``, right after
``on_task_start``), which is where the run's lr and weight decay are known (``teacher_lr`` /
``teacher_weight_decay`` override them). It is discarded at the task's end; mid-task it is part
of the state, so a resumed run does not train it again. The pretrained weights are a frozen copy
taken in ``prepare`` (after the special tokens were added): the same on a resume, since the app
rebuilds the backbone from its seed.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn
from torch.optim import Optimizer
from tqdm.auto import tqdm

from ..generative_replay import qa_gen_logits
from ..method import OptimizerFactory, TaskContext
from ..registry import register_method
from ..teacher import frozen_copy
from .lamol import LamolOutputs, lamol_loss
from .lamol_kd import LamolKD, LamolKDConfig, distill


@dataclass
class L2KDConfig(LamolKDConfig):
    gen_batch_size: int = field(default=4, metadata={"help": "rows per model.generate call"})
    teacher_lr: float | None = field(
        default=None, metadata={"help": "teacher AdamW lr (null: the run's lr)"}
    )
    teacher_weight_decay: float | None = field(
        default=None, metadata={"help": "teacher AdamW weight decay (null: the run's)"}
    )


@register_method("l2kd")
class L2KD(LamolKD):
    config_class = L2KDConfig
    config: L2KDConfig

    def __init__(self, config: L2KDConfig | None = None) -> None:
        super().__init__(config)
        self.pretrained: nn.Module | None = None
        self.teacher_seconds: dict[int, float] = {}

    def prepare(self, model: nn.Module) -> nn.Module:
        model = super().prepare(model)
        self.pretrained = frozen_copy(model).cpu()
        return model

    def on_task_start(self, task: TaskContext, model: nn.Module) -> None:
        self.task = task
        self.teacher.clear()  # trained in task_optimizer, once the run's lr is known

    def on_task_resume(self, task: TaskContext, model: nn.Module) -> None:
        self.task = task
        self.teacher.restore(model, task.index)  # else task_optimizer trains it again

    def task_optimizer(
        self, task: TaskContext, params: list[nn.Parameter], default: OptimizerFactory
    ) -> Optimizer:
        optimizer = super().task_optimizer(task, params, default)
        if task.index > 0 and not self.teacher:
            group = optimizer.param_groups[0]
            lr = self.config.teacher_lr if self.config.teacher_lr is not None else group["lr"]
            wd = self.config.teacher_weight_decay
            self.train_teacher(task, lr, group["weight_decay"] if wd is None else wd)
        return optimizer

    def train_teacher(self, task: TaskContext, lr: float, weight_decay: float) -> nn.Module:
        """A copy of the pretrained model trained on the task's real rows with the LAMOL loss."""
        if self.pretrained is None or task.collate is None or not task.train_data:
            raise RuntimeError("L2KD's teacher needs prepare() and the task's data and collate")
        started = time.time()
        teacher = frozen_copy(self.pretrained).to(task.device)
        teacher.requires_grad_(True)
        teacher.train()
        optimizer = torch.optim.AdamW(teacher.parameters(), lr=lr, weight_decay=weight_decay)
        data = self.replay.real_rows(task, task.train_data)
        size = max(1, (task.batch_size or 1) * task.grad_accum)
        generator = torch.Generator().manual_seed(task.seed * 7919 + task.index)
        steps = task.epochs * ((len(data) + size - 1) // size)
        desc = f"L2KD teacher of task {task.index}"
        bar = tqdm(total=steps, desc=desc, disable=not task.progress)
        for _ in range(task.epochs):
            order = torch.randperm(len(data), generator=generator).tolist()
            for start in range(0, len(data), size):
                batch = task.collate([data[i] for i in order[start : start + size]])
                batch = {k: v.to(task.device) for k, v in batch.items() if torch.is_tensor(v)}
                with task.autocast_context():
                    outputs = LamolOutputs(*qa_gen_logits(teacher, batch))
                    loss = lamol_loss(outputs, batch, self.config.lamol_lambda)
                loss.backward()
                optimizer.step()
                optimizer.zero_grad(set_to_none=True)
                bar.update(1)
                bar.set_postfix(loss=f"{float(loss.detach()):.4f}")
        bar.close()
        teacher.eval()
        teacher.requires_grad_(False)
        self.teacher.model, self.teacher.task_index = teacher, task.index
        self.teacher_seconds[task.index] = round(time.time() - started, 2)
        return teacher

    def forward_loss(self, batch: Any, model: nn.Module) -> tuple[torch.Tensor, LamolOutputs]:
        c = self.config
        outputs = LamolOutputs(*qa_gen_logits(model, batch))
        if not self.teacher:  # task 0: LAMOL
            return lamol_loss(outputs, batch, c.lamol_lambda), outputs
        pseudo = batch["is_pseudo"].bool()
        hard = lamol_loss(outputs, batch, c.lamol_lambda, rows=pseudo)
        kd = distill(outputs, batch, self.teacher, ~pseudo, c.kd_temperature, c.lamol_lambda)
        return hard + c.kd_weight * kd, outputs

    def state_dict(self) -> dict[str, Any]:
        seconds = {str(k): v for k, v in self.teacher_seconds.items()}
        return super().state_dict() | {"teacher_seconds": seconds}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        super().load_state_dict(state)
        self.teacher_seconds = {int(k): v for k, v in state.get("teacher_seconds", {}).items()}
