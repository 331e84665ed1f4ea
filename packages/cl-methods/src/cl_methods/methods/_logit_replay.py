"""Shared base of DER++ and CLS-ER: full fine-tuning with batch-level replay, where the loss
needs to know which rows of a batch came from the buffer.

The :class:`cl_methods.replay.Replay` component appends the buffer rows after the new rows of
every micro-batch (t > 0); :meth:`batch_examples` remembers the rows and how many are new, and
:meth:`mixed_rows` hands them to ``forward_loss`` (None when the batch has no buffer rows, so the
model's own loss applies: task 0, an empty buffer). Backbones: a
:class:`cl_methods.classic.ClassifierModel` in CIL (class logits), or a causal LM without heads
(vocabulary logits at the answer positions).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from ..adapters.inject import unwrap_model
from ..classic.backbones import ClassifierModel
from ..method import TaskContext
from ..replay import Replay
from .seqft import SeqFT

INPUT_KEYS = ("input_ids", "attention_mask", "token_type_ids")


def heads_model(model: nn.Module) -> ClassifierModel | None:
    inner = unwrap_model(model)
    return inner if isinstance(inner, ClassifierModel) else None


def model_inputs(batch: dict[str, Any], rows: slice | None = None) -> dict[str, torch.Tensor]:
    """The model inputs of ``batch`` (no labels), optionally only ``rows``."""
    out = {k: batch[k] for k in INPUT_KEYS if k in batch}
    return out if rows is None else {k: v[rows] for k, v in out.items()}


class LogitReplayMethod(SeqFT):
    """Full fine-tuning + a Replay component + the bookkeeping of the current mixed batch.
    ``supports_til``: a subclass whose loss handles TIL heads (per-head cross-entropy)."""

    supports_til = False

    def __init__(self, config=None) -> None:
        super().__init__(config)
        self.replay = Replay.from_options(self.config)
        if self.replay is None or not self.config.replay_batch_level:
            raise ValueError(
                f"{self.name}: needs replay on with batch-level mixing "
                "(replay: true, replay_batch_level: true)"
            )
        self._rows: list[Any] = []
        self._n_new = 0

    def prepare(self, model: nn.Module) -> nn.Module:
        heads = heads_model(model)
        allowed = ("CIL", "TIL") if self.supports_til else ("CIL",)
        if heads is not None and heads.il_mode not in allowed:
            raise ValueError(
                f"{self.name}: heads models are supported in {' and '.join(allowed)} only "
                f"(got {heads.il_mode})"
            )
        return super().prepare(model)

    def task_train_data(self, task: TaskContext, data: Sequence[Any]) -> Sequence[Any]:
        return self.replay.task_train_data(task, data)

    def batch_examples(self, task: TaskContext, examples: list[Any]) -> list[Any]:
        mixed = self.replay.batch_examples(task, examples)
        self._rows, self._n_new = list(mixed), len(examples)
        return mixed

    def mixed_rows(self, batch: dict[str, Any]) -> tuple[int, list[Any]] | None:
        """``(n_new, buffer_rows)`` of the batch being trained, or None when it has no buffer
        rows (or is not the batch :meth:`batch_examples` last built)."""
        size = int(batch["input_ids"].shape[0])
        if size != len(self._rows) or self._n_new >= size:
            return None
        return self._n_new, self._rows[self._n_new :]

    @staticmethod
    def logits(model: nn.Module, inputs: dict[str, torch.Tensor]) -> torch.Tensor:
        return model(**inputs).logits

    def replay_state(self) -> dict[str, Any]:
        return {"replay": self.replay.state_dict()}

    def load_replay_state(self, state: dict[str, Any]) -> None:
        if "replay" in state:
            self.replay.load_state_dict(state["replay"])
