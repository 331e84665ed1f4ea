"""EWC as a mixin, so any method (SEQ with heads, PEFT...) can add the penalty (spec 2.11).

    @dataclass
    class MyConfig(EWCOptions, MethodConfig): ...
    class My(EWCMixin, Method): ...          # EWCMixin before the method in the bases

- For t > 0 the ``penalty`` hook returns ``lam/2 * sum F (theta - theta*)^2`` over the trainable
  parameters that have a Fisher (added once per optimizer step by the trainer).
- At ``on_task_end``: the empirical Fisher over the task's training data, in eval mode, with the
  method's own loss (its ``forward_loss`` if any, else the model's loss), merged as
  ``F <- (F_new + t F_old) / (t + 1)``; ``theta*`` = the weights now.
- Fisher, anchors and the task count are in ``state_dict`` (carried between tasks, checkpointed).
"""

from __future__ import annotations

from contextlib import nullcontext
from dataclasses import dataclass, field
from typing import Any, Literal

import torch
from torch import nn

from ..method import MethodConfig, TaskContext
from .fisher import empirical_fisher
from .ops import ewc_penalty, fisher_merge

MODEL_KEYS = (
    "input_ids",
    "attention_mask",
    "labels",
    "decoder_input_ids",
    "decoder_attention_mask",
    "token_type_ids",
    "position_ids",
)


@dataclass
class EWCOptions:
    """ewc_lambda 5000 and the minibatch Fisher estimator are the reference's settings.

    fisher: "batch" (gradients of minibatch-mean losses) or "per_sample".
    fisher_batch_size: batch size of the Fisher pass (None: the trainer's batch size, else 8).
    """

    ewc_lambda: float = field(
        default=5000.0, metadata={"help": "EWC penalty weight (reference 5000)"}
    )
    fisher: Literal["batch", "per_sample"] = field(
        default="batch",
        metadata={"help": "batch (minibatch-mean gradients, reference) or per_sample"},
    )
    fisher_batch_size: int | None = field(
        default=None, metadata={"help": "batch size of the Fisher pass (null: the trainer's)"}
    )


class EWCMixin:
    """Adds EWC to a :class:`Method` whose config inherits :class:`EWCOptions`."""

    def __init__(self, config: MethodConfig | None = None) -> None:
        super().__init__(config)  # type: ignore[call-arg]
        if not isinstance(self.config, EWCOptions):  # type: ignore[attr-defined]
            raise TypeError(f"{type(self).__name__}: its config must inherit EWCOptions")
        self.fisher: dict[str, torch.Tensor] = {}
        self.anchors: dict[str, torch.Tensor] = {}
        self.tasks_done = 0
        self._terms: list[tuple[nn.Parameter, torch.Tensor, torch.Tensor]] = []

    def on_task_start(self, task: TaskContext, model: nn.Module) -> None:
        super().on_task_start(task, model)  # type: ignore[misc]
        self._terms = []
        for name, p in model.named_parameters():
            if name in self.fisher and p.requires_grad:
                self.fisher[name] = self.fisher[name].to(p.device)
                self.anchors[name] = self.anchors[name].to(p.device)
                self._terms.append((p, self.anchors[name], self.fisher[name]))

    def penalty(self, model: nn.Module) -> torch.Tensor | None:
        base = super().penalty(model)  # type: ignore[misc]
        if not self._terms:
            return base
        params, anchors, fishers = zip(*self._terms)
        term = ewc_penalty(params, anchors, fishers, self.config.ewc_lambda)  # type: ignore[attr-defined]
        return term if base is None else base + term

    def _fisher_loss_fn(self, task: TaskContext, model: nn.Module):
        """One batch's training loss through the unwrapped model (no DDP hooks: each process
        computes the same Fisher on its own), under the accelerator's autocast."""
        accelerator = task.services.get("accelerator")
        device = accelerator.device if accelerator is not None else next(model.parameters()).device

        def loss_fn(batch: dict[str, Any]) -> torch.Tensor:
            batch = {k: v.to(device) if torch.is_tensor(v) else v for k, v in batch.items()}
            autocast = accelerator.autocast() if accelerator is not None else nullcontext()
            with autocast:
                custom = self.forward_loss(batch, model)  # type: ignore[attr-defined]
                if custom is not None:
                    return custom[0]
                return model(**{k: v for k, v in batch.items() if k in MODEL_KEYS}).loss

        return loss_fn

    def on_task_end(self, task: TaskContext, model: nn.Module) -> None:
        super().on_task_end(task, model)  # type: ignore[misc]
        if not task.train_data:
            raise ValueError(f"EWC needs the training data of task {task.name!r} for its Fisher")
        if task.collate is None:
            raise ValueError(f"EWC needs a collate function for task {task.name!r}")
        options: EWCOptions = self.config  # type: ignore[attr-defined]
        named = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
        batch_size = options.fisher_batch_size
        if batch_size is None:
            trainer = task.services.get("trainer")
            batch_size = getattr(getattr(trainer, "config", None), "batch_size", 8)
        was_training = model.training
        model.eval()
        try:
            new = empirical_fisher(
                [p for _, p in named],
                task.train_data,
                task.collate,
                self._fisher_loss_fn(task, model),
                estimator=options.fisher,
                batch_size=batch_size,
            )
        finally:
            model.train(was_training)
            model.zero_grad(set_to_none=True)
        names = [n for n, _ in named]
        old = [self.fisher.get(n, torch.zeros_like(f)).to(f) for n, f in zip(names, new)]
        merged = fisher_merge(new, old, task.index)  # in place on ``old``
        self.fisher = dict(zip(names, merged))
        self.anchors = {n: p.detach().float().clone() for n, p in named}
        self.tasks_done = task.index + 1
        self._terms = []

    def state_dict(self) -> dict[str, Any]:
        state = super().state_dict()  # type: ignore[misc]
        return {
            **state,
            "fisher": {n: t.cpu() for n, t in self.fisher.items()},
            "anchors": {n: t.cpu() for n, t in self.anchors.items()},
            "tasks_done": self.tasks_done,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        state = dict(state)
        self.fisher = dict(state.pop("fisher", {}))
        self.anchors = dict(state.pop("anchors", {}))
        self.tasks_done = int(state.pop("tasks_done", 0))
        super().load_state_dict(state)  # type: ignore[misc]
