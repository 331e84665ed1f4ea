"""DER++ (Buzzega et al. 2020; the classic codebase's ``DERpp.py``), on replay.

For t > 0 every micro-batch is n new rows followed by n buffer rows (batch-level replay; a
recipe of batch B runs the trainer with B/2), and the loss is

    CE(new rows) + beta * CE(buffer rows) + alpha * MSE(student logits, teacher logits)

with the MSE on the buffer rows only (alpha = beta = 0.5). The teacher logits are
(``teacher``):

- ``"task_start"`` (default, the codebase's choice): a frozen copy of the model taken at the start
  of the task, run on the buffer rows;
- ``"stored"`` (the DER++ paper): the logits the model gave a row when it entered the buffer
  (here: at the end of the task whose data it came from, when the buffer is filled).

Heads backbones compare the old-class dimensions: the first ``pre_accum[t]`` logits with a
task-start teacher, the dimensions stored with the row otherwise. In CIL the CE terms are over
the logits of every seen class; in TIL over each row's own task head (the model's per-head loss),
the MSE as in CIL. Generative backbones compare
the vocabulary logits at the answer positions (:mod:`cl_methods.logit_replay`). Task 0 (and an
empty buffer) trains on the model's own loss.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import torch
from torch import nn

from ..logit_replay import answer_logits, answer_mask, derpp_loss
from ..method import MethodConfig, TaskContext
from ..registry import register_method
from ..replay import ReplayOptions, field_of
from ..teacher import Teacher
from ._logit_replay import LogitReplayMethod, heads_model, model_inputs

LOGITS_KEY = "derpp_logits"


@dataclass
class DERppConfig(ReplayOptions, MethodConfig):
    replay: bool = field(default=True, metadata={"help": "DER++ needs replay (keep it on)"})
    derpp_alpha: float = field(
        default=0.5, metadata={"help": "weight of the MSE on buffer logits (codebase 0.5)"}
    )
    derpp_beta: float = field(
        default=0.5, metadata={"help": "weight of the CE on buffer rows (codebase 0.5)"}
    )
    teacher: Literal["task_start", "stored"] = field(
        default="task_start",
        metadata={"help": "task_start: a copy of the model at the task's start (codebase); "
                  "stored: logits kept when a row entered the buffer (DER++ paper)"},
    )  # fmt: skip


@register_method("derpp")
class DERpp(LogitReplayMethod):
    config_class = DERppConfig
    config: DERppConfig
    supports_til = True

    def __init__(self, config: DERppConfig | None = None) -> None:
        super().__init__(config)
        if self.config.teacher not in ("task_start", "stored"):
            raise ValueError(f"teacher must be task_start or stored, got {self.config.teacher!r}")
        self.teacher = Teacher()

    def on_task_start(self, task: TaskContext, model: nn.Module) -> None:
        super().on_task_start(task, model)
        if self.config.teacher == "task_start" and task.index > 0:
            self.teacher.snapshot(model, task.index)

    def on_task_resume(self, task: TaskContext, model: nn.Module) -> None:
        super().on_task_start(task, model)
        restored = self.teacher.restore(model, task.index)
        if self.config.teacher == "task_start" and task.index > 0 and not restored:
            self.teacher.snapshot(model, task.index)

    def forward_loss(self, batch: dict[str, Any], model: nn.Module):
        mixed = self.mixed_rows(batch)
        if mixed is None:
            return None
        n, rows = mixed
        outputs = model(**model_inputs(batch))
        logits, labels = outputs.logits, batch["labels"]
        heads = heads_model(model)
        if self.config.teacher == "stored":
            student, teacher = self._stored_pair(logits[n:], labels[n:], rows, heads is not None)
        elif heads is not None:
            old = heads.labels.pre_accum[heads.current_task]
            teacher = self.teacher.logits(model_inputs(batch, slice(n, None)))[:, :old]
            student = logits[n:, :old]
        else:
            teacher = answer_logits(
                self.teacher.logits(model_inputs(batch, slice(n, None))), labels[n:]
            )
            student = answer_logits(logits[n:], labels[n:])
        til = heads is not None and heads.il_mode == "TIL"  # CE: each row's own head
        terms = derpp_loss(
            outputs.features if til else logits,
            labels,
            n,
            student,
            teacher,
            alpha=self.config.derpp_alpha,
            beta=self.config.derpp_beta,
            generative=heads is None,
            ce=heads.til_loss if til else None,
        )
        return terms["loss"], outputs

    @staticmethod
    def _stored_pair(
        logits: torch.Tensor, labels: torch.Tensor, rows: list[Any], heads: bool
    ) -> tuple[torch.Tensor, torch.Tensor]:
        stored = [field_of(r, LOGITS_KEY).to(logits.device) for r in rows]
        if heads:  # each row: the dimensions of the classes seen when it was stored
            student = torch.cat([logits[i, : s.shape[0]] for i, s in enumerate(stored)])
            return student, torch.cat(stored)
        return answer_logits(logits, labels), torch.cat(stored, dim=0)

    def on_task_end(self, task: TaskContext, model: nn.Module) -> None:
        self.replay.end_task(task, model)
        if self.config.teacher == "stored":
            self.store_logits(task, model)
        self.teacher.clear()

    @torch.no_grad()
    def store_logits(self, task: TaskContext, model: nn.Module, batch_size: int = 16) -> int:
        """Give every buffer row without stored logits the model's logits now (class logits of
        the classes seen so far, or the answer positions' vocabulary logits); returns how many.
        Rows are copied (``{**row, LOGITS_KEY: tensor}``), never changed in place."""
        if task.collate is None:
            raise ValueError("DER++ teacher='stored' needs the task's collate function")
        buffer = self.replay.buffer
        todo = [i for i, r in enumerate(buffer.items) if not _has_logits(r)]
        was_training = model.training
        model.eval()
        device = next(model.parameters()).device
        for start in range(0, len(todo), batch_size):
            idx = todo[start : start + batch_size]
            batch = task.collate([buffer.items[i] for i in idx])
            batch = {k: v.to(device) if torch.is_tensor(v) else v for k, v in batch.items()}
            logits = model(**model_inputs(batch)).logits.float().cpu()
            if heads_model(model) is not None:
                per_row = list(logits)
            else:
                labels = batch["labels"].cpu()
                counts = answer_mask(labels).sum(dim=1).tolist()
                per_row = list(answer_logits(logits, labels).split(counts))
            for i, row_logits in zip(idx, per_row):
                buffer.items[i] = {**buffer.items[i], LOGITS_KEY: row_logits.clone()}
        model.train(was_training)
        return len(todo)

    def state_dict(self) -> dict[str, Any]:
        state = self.replay_state()
        if self.teacher:
            state["teacher"] = self.teacher.state_dict()
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.load_replay_state(state)
        self.teacher.load_state_dict(state.get("teacher", {}))


def _has_logits(row: Any) -> bool:
    if not isinstance(row, dict):
        raise TypeError(f"DER++ teacher='stored' keeps logits in dict rows, got {type(row)}")
    return LOGITS_KEY in row
