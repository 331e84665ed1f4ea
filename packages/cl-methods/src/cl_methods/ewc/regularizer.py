"""EWC as a component any method can hold (spec classic-methods.md 2.11).

    @dataclass
    class MyConfig(EWCOptions, MethodConfig): ...

    class My(Method):
        def __init__(self, config=None):
            super().__init__(config)
            self.ewc = EWCRegularizer(self.config)

        def on_task_start(self, task, model):
            super().on_task_start(task, model)
            self.ewc.start_task(model)

        def penalty(self, model):
            return self.ewc.penalty()

        def on_task_end(self, task, model):
            self.ewc.end_task(task, model, loss_fn=...)   # the method's training loss

- For t > 0 :meth:`EWCRegularizer.penalty` is ``lam/2 * sum F (theta - theta*)^2`` over the
  trainable parameters that have a Fisher (the trainer adds it once per optimizer step).
- :meth:`EWCRegularizer.end_task`: the empirical Fisher over the task's training data, in eval
  mode, with the method's own loss (its ``forward_loss`` if any, else the model's loss), merged
  as ``F <- (F_new + t F_old) / (t + 1)``; ``theta*`` = the weights now.
- Fisher, anchors and the task count are in ``state_dict`` (carried between tasks, checkpointed).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

import torch
from torch import nn

from ..method import TaskContext
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

ForwardLoss = Callable[[Any, nn.Module], "tuple[torch.Tensor, Any] | None"]


@dataclass
class EWCOptions:
    """ewc_lambda 5000 and the minibatch Fisher estimator are the reference's settings.

    fisher: "batch" (gradients of minibatch-mean losses) or "per_sample".
    fisher_batch_size: batch size of the Fisher pass (None: the task's micro-batch size, else 8).
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


def batch_loss_fn(
    task: TaskContext, model: nn.Module, forward_loss: ForwardLoss | None = None
) -> Callable[[dict[str, Any]], torch.Tensor]:
    """One batch's training loss through the unwrapped ``model`` (no DDP hooks: each process
    computes the same Fisher on its own), on the task's device and under its autocast:
    ``forward_loss(batch, model)`` when it returns a loss, else the model's own loss."""

    def loss_fn(batch: dict[str, Any]) -> torch.Tensor:
        device = task.device
        batch = {k: v.to(device) if torch.is_tensor(v) else v for k, v in batch.items()}
        with task.autocast_context():
            custom = forward_loss(batch, model) if forward_loss is not None else None
            if custom is not None:
                return custom[0]
            return model(**{k: v for k, v in batch.items() if k in MODEL_KEYS}).loss

    return loss_fn


class EWCRegularizer:
    """Fisher, anchors and the quadratic penalty; see the module docstring."""

    def __init__(self, options: EWCOptions) -> None:
        if not isinstance(options, EWCOptions):
            raise TypeError(f"{type(options).__name__} does not inherit EWCOptions")
        self.options = options
        self.fisher: dict[str, torch.Tensor] = {}
        self.anchors: dict[str, torch.Tensor] = {}
        self.tasks_done = 0
        self._terms: list[tuple[nn.Parameter, torch.Tensor, torch.Tensor]] = []

    def start_task(self, model: nn.Module) -> None:
        """Bind the penalty to the parameters that train in this task and have a Fisher."""
        self._terms = []
        for name, p in model.named_parameters():
            if name in self.fisher and p.requires_grad:
                self.fisher[name] = self.fisher[name].to(p.device)
                self.anchors[name] = self.anchors[name].to(p.device)
                self._terms.append((p, self.anchors[name], self.fisher[name]))

    def penalty(self) -> torch.Tensor | None:
        if not self._terms:
            return None
        params, anchors, fishers = zip(*self._terms)
        return ewc_penalty(params, anchors, fishers, self.options.ewc_lambda)

    def end_task(
        self, task: TaskContext, model: nn.Module, forward_loss: ForwardLoss | None = None
    ) -> None:
        """Estimate the task's Fisher over ``task.train_data``, merge it, move the anchors."""
        if not task.train_data:
            raise ValueError(f"EWC needs the training data of task {task.name!r} for its Fisher")
        if task.collate is None:
            raise ValueError(f"EWC needs a collate function for task {task.name!r}")
        named = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
        batch_size = self.options.fisher_batch_size or task.batch_size or 8
        was_training = model.training
        model.eval()
        try:
            new = empirical_fisher(
                [p for _, p in named],
                task.train_data,
                task.collate,
                batch_loss_fn(task, model, forward_loss),
                estimator=self.options.fisher,
                batch_size=batch_size,
                progress=task.progress,
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
        return {
            "fisher": {n: t.cpu() for n, t in self.fisher.items()},
            "anchors": {n: t.cpu() for n, t in self.anchors.items()},
            "tasks_done": self.tasks_done,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.fisher = dict(state.get("fisher", {}))
        self.anchors = dict(state.get("anchors", {}))
        self.tasks_done = int(state.get("tasks_done", 0))
