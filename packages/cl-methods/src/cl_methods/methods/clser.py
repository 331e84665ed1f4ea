"""CLS-ER (Arani et al. 2022; the classic codebase's ``CLSER.py``), on replay.

Two exponential moving averages of the model, a fast and a slow one, are made (copies of the
model) at the start of task 1. For t > 0 every micro-batch is n new rows followed by n buffer
rows (batch-level replay), and the loss is

    CE(every row) + lambda * MSE(student logits, teacher logits) on the buffer rows

where, per buffer row (per answer token for generative backbones), the teacher is the copy whose
softmax gives the gold class the higher probability (the slow one on ties); lambda = 0.1. After
each optimizer step of a task t > 0 the fast copy is updated with probability 0.9 and the slow
one with probability 0.7 (seeded draws: the run's seed, the task and the step), each with
``alpha = min(1 - 1 / (step + 1), 0.999)``, ``step`` counting the task's optimizer steps.
Heads backbones compare the logits of every seen class; generative ones the vocabulary logits at
the answer positions.

``ema_pairing``: ``"name"`` (DECISION, default) averages every parameter of the model, heads
included, with the parameter of the same name. ``"codebase"`` reproduces the codebase, which
zips the copy's parameters (backbone, then heads) with the backbone's alone, so that only the
backbone is averaged and the copies' heads keep their values from the start of task 1 (the heads
of later tasks stay at their initialisation). Differences from the codebase kept on purpose:
the copies are averaged after the optimizer step (the codebase: before it, from the same
weights one step earlier), with draws that do not consume the global torch RNG.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import torch
from torch import nn

from ..adapters.inject import unwrap_model
from ..logit_replay import answer_logits, answer_targets, clser_loss
from ..method import MethodConfig, StepInfo, TaskAwareModel, TaskContext
from ..registry import register_method
from ..replay import ReplayOptions
from ..teacher import EMAModel, ema_alpha
from ._logit_replay import LogitReplayMethod, heads_model, model_inputs


@dataclass
class CLSERConfig(ReplayOptions, MethodConfig):
    replay: bool = field(default=True, metadata={"help": "CLS-ER needs replay (keep it on)"})
    clser_lambda: float = field(
        default=0.1, metadata={"help": "weight of the MSE to the EMA teacher (codebase 0.1)"}
    )
    alpha_fast: float = field(default=0.999, metadata={"help": "cap of the fast copy's alpha"})
    alpha_slow: float = field(default=0.999, metadata={"help": "cap of the slow copy's alpha"})
    freq_fast: float = field(
        default=0.9, metadata={"help": "probability of updating the fast copy after a step"}
    )
    freq_slow: float = field(
        default=0.7, metadata={"help": "probability of updating the slow copy after a step"}
    )
    ema_pairing: Literal["name", "codebase"] = field(
        default="name",
        metadata={"help": "name: every parameter by name (fixed); codebase: the codebase's "
                  "zip with the backbone only (the copies' heads never update)"},
    )  # fmt: skip

    def __post_init__(self) -> None:
        for key in ("freq_fast", "freq_slow", "alpha_fast", "alpha_slow"):
            if not 0.0 <= getattr(self, key) <= 1.0:
                raise ValueError(f"CLS-ER {key} must be in [0, 1], got {getattr(self, key)}")
        if self.ema_pairing not in ("name", "codebase"):
            raise ValueError(f"ema_pairing must be name or codebase, got {self.ema_pairing!r}")


def codebase_ema_update(ema: EMAModel, model: nn.Module, alpha: float) -> None:
    """The codebase's update: the copy's parameters zipped, in order, with the parameters of the
    model's backbone (the whole model when it has no heads); the zip stops at the shorter."""
    inner = unwrap_model(model)
    heads = heads_model(inner)
    live = list((heads.backbone if heads is not None else inner).parameters())
    with torch.no_grad():
        for p, q in zip(ema.model.parameters(), live):
            p.mul_(alpha).add_(q.detach().to(p), alpha=1.0 - alpha)
    ema.updates += 1


@register_method("clser")
class CLSER(LogitReplayMethod):
    config_class = CLSERConfig
    config: CLSERConfig

    def __init__(self, config: CLSERConfig | None = None) -> None:
        super().__init__(config)
        self.fast: EMAModel | None = None
        self.slow: EMAModel | None = None
        self.updates = {"fast": 0, "slow": 0}
        self._pending: dict[str, Any] | None = None

    def on_task_start(self, task: TaskContext, model: nn.Module) -> None:
        super().on_task_start(task, model)
        if task.index >= 1 and self.fast is None:
            self.fast, self.slow = EMAModel(model), EMAModel(model)
            if self._pending is not None:  # resumed: the saved copies
                self.fast.load_state_dict(self._pending["fast"])
                self.slow.load_state_dict(self._pending["slow"])
                self._pending = None
        for ema in (self.fast, self.slow):
            if ema is not None and isinstance(ema.model, TaskAwareModel):
                ema.model.begin_task(task.index)  # their CIL logits span the heads 0..t

    def draws(self, task_index: int, step: int) -> tuple[float, float]:
        """The two uniform draws deciding the fast and slow updates after ``step``."""
        seed = self.task.seed if self.task is not None else 0
        u = np.random.default_rng([int(seed), int(task_index), int(step)]).random(2)
        return float(u[0]), float(u[1])

    def after_optimizer_step(self, model: nn.Module, step: StepInfo) -> None:
        if self.task is None or self.task.index == 0 or self.fast is None:
            return
        u_fast, u_slow = self.draws(self.task.index, step.step)
        cfg = self.config
        for name, ema, u, freq, cap in (
            ("fast", self.fast, u_fast, cfg.freq_fast, cfg.alpha_fast),
            ("slow", self.slow, u_slow, cfg.freq_slow, cfg.alpha_slow),
        ):
            if u < freq:
                alpha = ema_alpha(step.step, cap)
                if cfg.ema_pairing == "codebase":
                    codebase_ema_update(ema, model, alpha)
                else:
                    ema.update(model, alpha)
                self.updates[name] += 1

    def forward_loss(self, batch: dict[str, Any], model: nn.Module):
        mixed = self.mixed_rows(batch)
        if mixed is None or self.fast is None:
            return None
        n, _ = mixed
        outputs = model(**model_inputs(batch))
        logits, labels = outputs.logits, batch["labels"]
        buffer_inputs = model_inputs(batch, slice(n, None))
        fast, slow = self.fast(**buffer_inputs).logits, self.slow(**buffer_inputs).logits
        generative = heads_model(model) is None
        if generative:
            buf_labels = labels[n:]
            student = answer_logits(logits[n:], buf_labels)
            fast, slow = answer_logits(fast, buf_labels), answer_logits(slow, buf_labels)
            targets = answer_targets(buf_labels)
        else:
            student, targets = logits[n:], labels[n:]
        terms = clser_loss(
            logits,
            labels,
            student,
            fast,
            slow,
            targets,
            lam=self.config.clser_lambda,
            generative=generative,
        )
        return terms["loss"], outputs

    def on_task_end(self, task: TaskContext, model: nn.Module) -> None:
        self.replay.end_task(task, model)

    def state_dict(self) -> dict[str, Any]:
        state = self.replay_state()
        state["updates"] = dict(self.updates)
        if self.fast is not None and self.slow is not None:
            state["fast"], state["slow"] = self.fast.state_dict(), self.slow.state_dict()
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.load_replay_state(state)
        self.updates = {k: int(v) for k, v in state.get("updates", self.updates).items()}
        self.fast = self.slow = None
        self._pending = {"fast": state["fast"], "slow": state["slow"]} if "fast" in state else None
