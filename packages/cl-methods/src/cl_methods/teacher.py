"""Frozen and averaged copies of the model, as components a method holds.

:class:`Teacher` is a frozen copy of the model taken at a task's start (LAMOL_KD, LFPT5, DER++'s
codebase variant): ``teacher.snapshot(model, task.index)`` in ``on_task_start``,
``teacher(**batch)`` or :meth:`Teacher.logits` in ``loss``. Its weights are in
:meth:`Teacher.state_dict`, so a run resumed mid-task gets back the teacher of the task's start
(not a copy of the half-trained model): call :meth:`Teacher.restore` from ``on_task_resume``.

:class:`EMAModel` is an exponential moving average of the model's parameters (CLS-ER's fast and
slow learners): ``ema.update(model, alpha)`` after an optimizer step, with
:func:`ema_alpha` for the warm-up ``alpha = min(1 - 1 / (step + 1), cap)``. Parameters are paired
by name with the model's, so every averaged tensor really follows its counterpart.

Both copies are made with ``copy.deepcopy`` of the unwrapped model (DDP's ``module.`` dropped),
in eval mode, with ``requires_grad=False`` everywhere.
"""

from __future__ import annotations

import copy
from typing import Any

import torch
from torch import nn

from .adapters.inject import unwrap_model


def frozen_copy(model: nn.Module) -> nn.Module:
    """A deep copy of the unwrapped ``model`` in eval mode with every parameter frozen."""
    clone = copy.deepcopy(unwrap_model(model))
    clone.eval()
    clone.requires_grad_(False)
    return clone


def _tensors(module: nn.Module) -> dict[str, torch.Tensor]:
    return {
        k: v.detach().cpu().clone() for k, v in module.state_dict().items() if torch.is_tensor(v)
    }


def _load_tensors(module: nn.Module, weights: dict[str, torch.Tensor], what: str) -> None:
    """Load saved tensors; every tensor of ``module`` must be among them, and nothing more."""
    missing, unexpected = module.load_state_dict(weights, strict=False)
    if unexpected:
        raise ValueError(f"saved {what} has tensors the model lacks: {unexpected[:5]}")
    tensor_keys = {k for k, v in module.state_dict().items() if torch.is_tensor(v)}
    if set(missing) & tensor_keys:
        raise ValueError(f"saved {what} lacks tensors of the model: {sorted(missing)[:5]}")


class Teacher:
    """A frozen copy of the model taken at the start of task ``task_index``."""

    def __init__(self) -> None:
        self.model: nn.Module | None = None
        self.task_index: int | None = None
        self._pending: dict[str, Any] | None = None

    def __bool__(self) -> bool:
        return self.model is not None

    def snapshot(self, model: nn.Module, task_index: int) -> nn.Module:
        """Freeze a copy of ``model`` as the teacher of task ``task_index``."""
        self.model = frozen_copy(model)
        self.task_index = int(task_index)
        self._pending = None
        return self.model

    def clear(self) -> None:
        self.model, self.task_index, self._pending = None, None, None

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        """The teacher's forward pass, without gradients."""
        if self.model is None:
            raise RuntimeError("the teacher has no snapshot: call snapshot(model, task) first")
        with torch.no_grad():
            return self.model(*args, **kwargs)

    def logits(self, batch: dict[str, Any], keys: tuple[str, ...] | None = None) -> torch.Tensor:
        """The teacher's logits on ``batch`` (only ``keys`` passed on when given)."""
        inputs = batch if keys is None else {k: batch[k] for k in keys if k in batch}
        return self(**inputs).logits

    def state_dict(self) -> dict[str, Any]:
        if self.model is None:
            return {}
        return {"task": self.task_index, "weights": _tensors(self.model)}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Keep the saved teacher until :meth:`restore` gives it a model to copy."""
        self._pending = dict(state) if state else None
        if not state:
            self.model, self.task_index = None, None

    def restore(self, model: nn.Module, task_index: int) -> bool:
        """After :meth:`load_state_dict`: rebuild the saved teacher of task ``task_index`` on a
        copy of ``model``'s structure. Returns False when no teacher of that task was saved
        (the caller then snapshots the model as at a task start)."""
        pending, self._pending = self._pending, None
        if not pending or pending.get("task") != task_index:
            return False
        clone = frozen_copy(model)
        _load_tensors(clone, pending["weights"], "teacher")
        self.model, self.task_index = clone, int(task_index)
        return True


def ema_alpha(step: int, cap: float) -> float:
    """``min(1 - 1 / (step + 1), cap)``: a short average early, ``cap`` once ``step`` is large."""
    return min(1.0 - 1.0 / (int(step) + 1), float(cap))


class EMAModel:
    """An exponential moving average of a model: ``ema <- alpha * ema + (1 - alpha) * model``
    for every floating-point parameter, paired by name; buffers are copied."""

    def __init__(self, model: nn.Module) -> None:
        self.model = frozen_copy(model)
        self.updates = 0

    @torch.no_grad()
    def update(self, model: nn.Module, alpha: float) -> None:
        if not 0.0 <= alpha <= 1.0:
            raise ValueError(f"EMA alpha must be in [0, 1], got {alpha}")
        live = dict(unwrap_model(model).named_parameters())
        for name, p in self.model.named_parameters():
            if name not in live:
                raise KeyError(f"EMA parameter {name!r} has no counterpart in the model")
            if p.is_floating_point():
                p.mul_(alpha).add_(live[name].detach().to(p), alpha=1.0 - alpha)
        buffers = dict(unwrap_model(model).named_buffers())
        for name, b in self.model.named_buffers():
            if name in buffers:
                b.copy_(buffers[name])
        self.updates += 1

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        with torch.no_grad():
            return self.model(*args, **kwargs)

    def state_dict(self) -> dict[str, Any]:
        return {"updates": self.updates, "weights": _tensors(self.model)}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        _load_tensors(self.model, state["weights"], "EMA model")
        self.updates = int(state["updates"])
