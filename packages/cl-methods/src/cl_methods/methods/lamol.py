"""LAMOL (spec classic-methods.md 2.4): the model learns each task's QA sequences ``x __ans__ " y"
eos`` and, as a language model, its GEN sequences ``G x __ans__ " y" eos``; before each task t>0
it samples ``floor(0.2 |D_t|)`` pseudo samples of the old tasks from their generation token
(``gen_token``: ``g`` one shared ``__gen__``, ``t`` one ``__<j>__`` per task), and trains on them
like real data. Loss: ``L_QA + 0.25 L_GEN`` (``lamol_lambda``), each the token mean of its
sequences. Every weight trains; no replay buffer.

The data format, tokens, pseudo samples and their state are the
:class:`cl_methods.generative_replay.GenerativeReplay` component. An app batches the rows with
``method.collator(max_length)`` (training batches and the evaluation prompts ``x __ans__``).
``optimizer_scope`` defaults to ``"run"``: one AdamW for the run, as the classic codebase.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import torch
from torch import nn

from ..generative_replay import (
    GenerativeReplay,
    GenerativeReplayOptions,
    LamolCollator,
    lm_loss,
    qa_gen_logits,
)
from ..method import Method, MethodConfig, RunInfo, TaskContext
from ..registry import register_method


@dataclass
class LamolConfig(GenerativeReplayOptions, MethodConfig):
    lamol_lambda: float = field(default=0.25, metadata={"help": "weight of L_GEN"})
    optimizer_scope: Literal["task", "carry", "run"] = field(
        default="run", metadata={"help": "run: one AdamW for the run (the codebase)"}
    )


@dataclass
class LamolOutputs:
    """What ``forward_loss`` hands to ``loss``: the QA and GEN logits of the batch."""

    qa_logits: torch.Tensor
    gen_logits: torch.Tensor

    @property
    def logits(self) -> torch.Tensor:
        return self.qa_logits


def lamol_loss(
    outputs: LamolOutputs,
    batch: dict[str, torch.Tensor],
    gen_weight: float,
    rows: torch.Tensor | None = None,
) -> torch.Tensor:
    """``L_QA + gen_weight * L_GEN`` over ``rows`` (all rows by default)."""
    qa = lm_loss(outputs.qa_logits, batch["labels"], rows)
    return qa + gen_weight * lm_loss(outputs.gen_logits, batch["gen_labels"], rows)


@register_method("lamol")
class Lamol(Method):
    config_class = LamolConfig
    config: LamolConfig

    def __init__(self, config: LamolConfig | None = None) -> None:
        super().__init__(config)
        self.optimizer_scope = self.config.optimizer_scope
        self.replay = GenerativeReplay(self.config)

    def bind_run(self, run: RunInfo) -> None:
        super().bind_run(run)
        self.replay.bind(run)

    def prepare(self, model: nn.Module) -> nn.Module:
        model.requires_grad_(True)
        return self.replay.prepare(model)

    def collator(self, max_length: int | None = None) -> LamolCollator:
        """Batches in LAMOL's format (training rows and evaluation prompts)."""
        return self.replay.collator(max_length)

    def task_train_data(self, task: TaskContext, data: Sequence[Any]) -> Sequence[Any]:
        return self.replay.task_rows(task, data)

    def forward_loss(self, batch: Any, model: nn.Module) -> tuple[torch.Tensor, LamolOutputs]:
        outputs = LamolOutputs(*qa_gen_logits(model, batch))
        return lamol_loss(outputs, batch, self.config.lamol_lambda), outputs

    def state_dict(self) -> dict[str, Any]:
        return {"generative_replay": self.replay.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.replay.load_state_dict(state.get("generative_replay", {}))
