"""The method interface: a small object with optional hooks that the trainer calls in a fixed order.

Order of calls made by :class:`cl_methods.trainer.ContinualTrainer` (and by any plain PyTorch loop
that wants to use a method without the trainer)::

    model = method.prepare(model)                    # once, before the first task
    for task in stream:
        method.on_task_start(task, model)
        for each optimizer step:
            for each micro-batch (gradient accumulation):
                loss, outputs = method.forward_loss(batch, model) or the model's own loss
                loss = loss + method.loss(batch, outputs, model)     # per micro-batch terms
                (loss / grad_accum).backward()
            method.penalty(model).backward()         # parameter-only terms, once per step
            method.after_backward(model)
            clip, optimizer.step(), scheduler.step()
            method.after_optimizer_step(model, step)
            zero_grad
        method.on_task_end(task, model)

``loss`` terms depend on the batch (knowledge distillation, replay losses) and are averaged over
micro-batches like the task loss. ``penalty`` terms depend only on the parameters (O-LoRA
orthogonality, N-LoRA L1, EWC) and are added once per optimizer step, not divided by the number
of accumulation steps (this is what the O-LoRA reference's DeepSpeed setup did in effect).

A method never imports cl-data or cl-eval: tasks reach it as :class:`TaskContext` records.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import torch
from torch import nn

if TYPE_CHECKING:
    from torch.optim import Optimizer


@dataclass
class MethodConfig:
    """Base class of method configs. Subclasses list the paper's hyperparameters as fields whose
    defaults are the paper's values."""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class RunInfo:
    """What a method may know about the whole run before :meth:`Method.prepare` (given by
    :meth:`Method.bind_run`): the number and names of the tasks, the scenario ("CIL", "TIL",
    "IIL" or None), the tokenizer and the data family (e.g. ``"topic"``), so that a config
    left unset (``peft``'s il_mode, num_tasks, prompt-tuning init ids) can take the run's value.
    """

    num_tasks: int
    task_names: tuple[str, ...]
    scenario: str | None = None
    tokenizer: Any = None
    data_family: str | None = None


@dataclass
class TaskContext:
    """What a method learns about the task being trained.

    index: 0-based position of the task in the stream.
    name: the task's name (e.g. ``"dbpedia"``).
    train_data: the task's raw training examples (replay buffers, Fisher estimates), or None.
    collate: turns a list of raw examples into a model batch; may be None.
    params: per-task hyperparameter overrides (e.g. ``{"lambda_1": 5.0}`` from an order-6 table).
    num_tasks: length of the stream when known, else None.
    services: trainer services a method may use (``"accelerator"``, ``"compute_loss"``, ...).
    """

    index: int
    name: str
    train_data: Sequence[Any] | None = None
    collate: Callable[[list[Any]], Any] | None = None
    params: dict[str, Any] = field(default_factory=dict)
    num_tasks: int | None = None
    services: dict[str, Any] = field(default_factory=dict)


@dataclass
class StepInfo:
    """Passed to :meth:`Method.after_optimizer_step`.

    applied: False when the optimizer step was skipped (non-finite gradients, fp16 loss-scale skip).
    step: optimizer steps taken in this task so far (after this one).
    global_step: optimizer steps taken in the whole run so far.
    """

    applied: bool
    step: int
    global_step: int


class Method:
    """Base class: every hook is optional and does nothing by default."""

    name: ClassVar[str] = ""
    config_class: ClassVar[type[MethodConfig]] = MethodConfig
    #: train one task made of every task's examples (MTL), then evaluate each task once
    joint_training: ClassVar[bool] = False

    def __init__(self, config: MethodConfig | None = None) -> None:
        self.config = config if config is not None else self.config_class()
        if not isinstance(self.config, self.config_class):
            raise TypeError(
                f"method {self.name!r} expects a {self.config_class.__name__}, "
                f"got {type(self.config).__name__}"
            )
        self.task: TaskContext | None = None

    # -- declared capabilities ----------------------------------------------------------------
    def extra_epochs(self, task_index: int) -> int:
        """Epochs task ``task_index`` trains on top of the configured ones (e.g. SEQ*'s warm-up);
        the trainer adds them."""
        return 0

    def bind_run(self, run: RunInfo) -> None:
        """Learn about the run before :meth:`prepare` (apps call it); settings left unset in
        the config may be taken from ``run``. The default ignores it."""

    # -- set-up -------------------------------------------------------------------------------
    def prepare(self, model: nn.Module) -> nn.Module:
        """Attach adapters, heads or buffers; return the model to train (may be the same object)."""
        return model

    def on_task_start(self, task: TaskContext, model: nn.Module) -> None:
        self.task = task

    def on_task_resume(self, task: TaskContext, model: nn.Module) -> None:
        """Called instead of :meth:`on_task_start` when a run resumes in the middle of a task,
        after :meth:`load_state_dict` and before the model's saved weights are loaded back.
        The default repeats ``on_task_start``; methods whose task start is not idempotent
        (e.g. snapshotting a teacher) keep what they need in their state and override this."""
        self.on_task_start(task, model)

    def trainable_parameters(self, model: nn.Module) -> list[nn.Parameter]:
        """Parameters the optimizer of the current task updates."""
        return [p for p in model.parameters() if p.requires_grad]

    def configure_optimizer(
        self, params: list[nn.Parameter], default: Callable[[list[nn.Parameter]], Optimizer]
    ) -> Optimizer:
        """Build the task's optimizer; ``default`` builds the trainer's AdamW."""
        return default(params)

    def task_train_data(self, task: TaskContext, data: Sequence[Any]) -> Sequence[Any]:
        """Return the examples to train on for this task (dataset-level replay adds a buffer)."""
        return data

    def batch_examples(self, task: TaskContext, examples: list[Any]) -> list[Any]:
        """The raw examples of one micro-batch, before collation (batch-level replay adds or
        swaps in buffer rows here). Must be deterministic given the method's state."""
        return examples

    # -- per step -------------------------------------------------------------------------------
    def forward_loss(self, batch: Any, model: nn.Module) -> tuple[torch.Tensor, Any] | None:
        """Replace the model's own loss: return ``(loss, outputs)``, or None to keep the default
        ``model(**batch).loss``. ``model`` is the module to call for training (it may be wrapped
        by DistributedDataParallel); every other hook receives the unwrapped model."""
        return None

    def loss(self, batch: Any, outputs: Any, model: nn.Module) -> torch.Tensor | None:
        """Extra per-micro-batch loss terms, averaged over accumulation like the task loss."""
        return None

    def penalty(self, model: nn.Module) -> torch.Tensor | None:
        """Parameter-only term added once per optimizer step (not divided by accumulation)."""
        return None

    def after_backward(self, model: nn.Module) -> None:
        """Gradient surgery or masks, before clipping and the optimizer step."""

    def after_optimizer_step(self, model: nn.Module, step: StepInfo) -> None:
        """Importance EMAs, fusion, EMA models."""

    def on_task_end(self, task: TaskContext, model: nn.Module) -> None:
        """Stack adapters, consolidate, fill buffers."""

    def export_task(self, task: TaskContext, model: nn.Module, directory: Path) -> None:
        """Write per-task artifacts (e.g. the task's adapter as safetensors) into ``directory``.
        Called on the main process after :meth:`on_task_end`."""

    # -- evaluation -----------------------------------------------------------------------------
    def eval_model(self, model: nn.Module, task_name: str | None = None) -> nn.Module:
        """The module to evaluate (per-task adapters may select one by task name)."""
        return model

    # -- checkpointing ------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        """Method state carried between tasks (buffers, Fisher, snapshots), for checkpoints."""
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if state:
            raise ValueError(f"method {self.name!r} has no state but was given keys {list(state)}")
