"""EWC (spec classic-methods.md 2.11): for t > 0, ``L = L_task + lam/2 sum F (theta - theta*)^2``.

- ``theta*`` = the weights after the previous task; ``F`` = the empirical Fisher computed at the
  end of each task, in eval mode, over the task's training data with the method's own loss
  (the trainer's ``compute_loss`` service, so a ``forward_loss`` override is used), merged as
  ``F <- (F_new + t * F_old) / (t + 1)``.
- The penalty goes through the ``penalty`` hook: added once per optimizer step.
- Parameters: every trainable one (``full_finetune=True`` makes the whole model trainable, as
  the spec's EWC; ``False`` keeps the model's own ``requires_grad`` flags, e.g. a frozen
  backbone with trainable heads).
- Replay composes: ``build_method("ewc", {"replay": True, ...})`` (fields of ReplayOptions).
- Fisher and anchors are the method's state (carried between tasks and saved in checkpoints).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import torch
from torch import nn

from ..ewc import empirical_fisher, ewc_penalty, fisher_merge
from ..method import Method, MethodConfig, TaskContext
from ..registry import register_method
from ..replay import ReplayMixin, ReplayOptions

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
class EWCConfig(ReplayOptions, MethodConfig):
    """ewc_lambda 5000 and the minibatch Fisher estimator are the reference's settings.

    fisher_batch_size: batch size of the Fisher pass (None: the trainer's batch size, else 8).
    """

    ewc_lambda: float = 5000.0
    fisher: Literal["batch", "per_sample"] = "batch"
    fisher_batch_size: int | None = None
    full_finetune: bool = True


@register_method("ewc")
class EWC(ReplayMixin, Method):
    config_class = EWCConfig
    config: EWCConfig

    def __init__(self, config: EWCConfig | None = None) -> None:
        super().__init__(config)
        self.fisher: dict[str, torch.Tensor] = {}
        self.anchors: dict[str, torch.Tensor] = {}
        self.tasks_done = 0
        self._terms: list[tuple[nn.Parameter, torch.Tensor, torch.Tensor]] = []

    def prepare(self, model: nn.Module) -> nn.Module:
        if self.config.full_finetune:
            model.requires_grad_(True)
        return model

    def on_task_start(self, task: TaskContext, model: nn.Module) -> None:
        super().on_task_start(task, model)
        if self.config.full_finetune:
            model.requires_grad_(True)
        self._terms = []
        for name, p in model.named_parameters():
            if name in self.fisher and p.requires_grad:
                self.fisher[name] = self.fisher[name].to(p.device)
                self.anchors[name] = self.anchors[name].to(p.device)
                self._terms.append((p, self.anchors[name], self.fisher[name]))

    def penalty(self, model: nn.Module) -> torch.Tensor | None:
        if not self._terms:
            return None
        params, anchors, fishers = zip(*self._terms)
        return ewc_penalty(params, anchors, fishers, self.config.ewc_lambda)

    def _loss_fn(self, task: TaskContext, model: nn.Module):
        compute = task.services.get("compute_loss")
        accelerator = task.services.get("accelerator")
        device = accelerator.device if accelerator is not None else next(model.parameters()).device

        def loss_fn(batch: dict[str, Any]) -> torch.Tensor:
            batch = {k: v.to(device) if torch.is_tensor(v) else v for k, v in batch.items()}
            if compute is not None:
                return compute(batch)[0]
            custom = self.forward_loss(batch, model)
            if custom is not None:
                return custom[0]
            return model(**{k: v for k, v in batch.items() if k in MODEL_KEYS}).loss

        return loss_fn

    def on_task_end(self, task: TaskContext, model: nn.Module) -> None:
        super().on_task_end(task, model)
        if not task.train_data:
            raise ValueError(f"EWC needs the training data of task {task.name!r} for its Fisher")
        if task.collate is None:
            raise ValueError(f"EWC needs a collate function for task {task.name!r}")
        named = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
        batch_size = self.config.fisher_batch_size
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
                self._loss_fn(task, model),
                estimator=self.config.fisher,
                batch_size=batch_size,
            )
        finally:
            model.train(was_training)
            model.zero_grad(set_to_none=True)
        names = [n for n, _ in named]
        old = [self.fisher.get(n, torch.zeros_like(f)) for n, f in zip(names, new)]
        merged = fisher_merge(new, old if self.fisher else None, task.index)
        self.fisher = dict(zip(names, merged))
        self.anchors = {n: p.detach().float().clone() for n, p in named}
        self.tasks_done = task.index + 1
        self._terms = []

    def state_dict(self) -> dict[str, Any]:
        state = super().state_dict()
        state.update(
            fisher={n: t.cpu() for n, t in self.fisher.items()},
            anchors={n: t.cpu() for n, t in self.anchors.items()},
            tasks_done=self.tasks_done,
        )
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        state = dict(state)
        self.fisher = dict(state.pop("fisher", {}))
        self.anchors = dict(state.pop("anchors", {}))
        self.tasks_done = int(state.pop("tasks_done", 0))
        super().load_state_dict(state)
