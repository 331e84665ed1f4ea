"""The method contract: a small object with optional hooks that the trainer calls in a fixed order.

This table is the whole contract. A method subclasses :class:`Method`, overrides the hooks it
needs (every one has a do-nothing default) and never touches the trainer: everything it may know
about the run arrives as :class:`RunInfo` (the stream) and :class:`TaskContext` (the task being
trained: sizes, schedule, device, precision, and the calls it may make back).

==========================================  ========================================================
hook or declaration                         called / read
==========================================  ========================================================
``joint_training`` (ClassVar, False)        before the run: True trains ONE task made of every
                                            task's examples, then scores every task (MTL: one
                                            row of the matrix)
``trains`` (ClassVar, True)                 False: the method trains nothing (ICL): the trainer
                                            runs no optimizer and no step, only the task hooks
                                            and the evaluations (the same results format)
``bind_run(run)``                           by the app (else by the trainer), before ``prepare``:
                                            :class:`RunInfo` (task count and names, scenario,
                                            tokenizer, data family); config fields left unset are
                                            filled from it
``prepare(model) -> model``                 once, before the first task: attach adapters, heads,
                                            prompts; may return a wrapping module
``extra_epochs(t) -> int`` (0)              when task t's schedule is built: epochs added to the
                                            configured ones (SEQ*'s warm-up)
``TaskAwareModel.begin_task(t)``            on the MODEL (not the method), at every task start or
                                            resume, when the model subclasses
                                            :class:`TaskAwareModel` (per-task heads)
``on_task_start(task, model)``              task start: new adapter, teacher, Fisher, buffers
``on_task_resume(task, model)``             instead of ``on_task_start`` when a run resumes
                                            mid-task (after ``load_state_dict``)
``task_train_data(task, data)``             the examples to train on (dataset-level replay)
``trainable_parameters(model)``             what the task's optimizer updates
``optimizer_scope`` ("task")                the optimizer's lifetime: "task" (fresh per task),
                                            "carry" (fresh per task, the per-parameter state of
                                            parameters trained before carried over) or "run" (one
                                            optimizer for the run; new parameters join it)
``configure_optimizer(params, default)``    builds one optimizer (``default`` = the trainer's AdamW)
``task_optimizer(task, params, default)``   the task's optimizer, by ``optimizer_scope``
``batch_examples(task, rows)``              per micro-batch, before collate (batch-level replay)
``forward_loss(batch, model)``              per micro-batch: ``(loss, outputs)`` replacing the
                                            model's own loss, or None
``loss(batch, outputs, model)``             per micro-batch: extra terms (KD), averaged over
                                            accumulation like the task loss
``penalty(model)``                          once per optimizer step: parameter-only terms (O-LoRA,
                                            N-LoRA, EWC), not divided by accumulation
``after_backward(model)``                   before clipping and the step: gradient surgery, masks
``after_optimizer_step(model, StepInfo)``   after each step (also skipped ones): EMAs, fusion
``on_task_end(task, model)``                stack adapters, consolidate, fill buffers
``export_task(task, model, folder)``        main process, after ``on_task_end``: per-task artefacts
                                            (adapters in PEFT's format)
``eval_model(model, task_name)``            the module to evaluate (per-task adapter selection)
``eval_examples(task_name, examples)``      by an evaluator given it (``GenerationEvaluator(
                                            prepare=...)``): the task's evaluation examples
                                            before collation (ICL attaches demonstrations)
``eval_stop`` (ClassVar, None)              read by the app: a string where a generated answer
                                            ends besides eos (ICL: the demonstrations' newline)
``state_dict()`` / ``load_state_dict()``    method state for checkpoints: nested dicts, lists,
                                            tuples, numbers, strings and tensors (saved as JSON +
                                            safetensors, never pickled)
==========================================  ========================================================

One task in a plain PyTorch loop (what :class:`cl_methods.trainer.ContinualTrainer` does)::

    method.bind_run(RunInfo(num_tasks=T, task_names=names))
    model = method.prepare(model)
    for task in stream:                               # task: a TaskContext
        if isinstance(model, TaskAwareModel): model.begin_task(task.index)
        method.on_task_start(task, model)
        params = method.trainable_parameters(model)
        optimizer = method.task_optimizer(task, params, lambda ps: torch.optim.AdamW(ps, lr))
        for each optimizer step:
            for each micro-batch (gradient accumulation):
                batch = collate(method.batch_examples(task, rows))
                loss, outputs = method.forward_loss(batch, model) or the model's own loss
                loss = loss + method.loss(batch, outputs, model)
                (loss / grad_accum).backward()
            method.penalty(model).backward()
            method.after_backward(model)
            clip, optimizer.step(), scheduler.step()
            method.after_optimizer_step(model, StepInfo(...))
            zero_grad
        method.on_task_end(task, model)

Reusable parts are components a method holds and calls (not mixins):
:class:`cl_methods.replay.Replay` (buffers and mixing), :class:`cl_methods.ewc.EWCRegularizer`
(Fisher, anchors, penalty), :class:`cl_methods.teacher.Teacher` (a frozen copy of the model for
distillation) and :class:`cl_methods.teacher.EMAModel` (exponential moving averages).
A method never imports cl-data or cl-eval.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Literal

import torch
from torch import nn
from torch.optim import Optimizer

OptimizerFactory = Callable[[list[nn.Parameter]], Optimizer]
OptimizerScope = Literal["task", "carry", "run"]
OPTIMIZER_SCOPES: tuple[str, ...] = ("task", "carry", "run")


@dataclass
class MethodConfig:
    """Base class of method configs. Subclasses list the paper's hyperparameters as fields whose
    defaults are the paper's values."""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class RunInfo:
    """What a method may know about the whole run, given once before ``prepare``.

    num_tasks: tasks in the stream; task_names: their names in order;
    scenario: "CIL", "TIL" or "IIL" when the app knows it;
    tokenizer: the run's tokenizer (prompt-tuning init ids), or None;
    data_family: the dataset family whose prompt-tuning init text applies ("topic",
    "concept_1k", ...), or None.
    """

    num_tasks: int
    task_names: tuple[str, ...]
    scenario: str | None = None
    tokenizer: Any = None
    data_family: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "task_names", tuple(self.task_names))
        if self.num_tasks != len(self.task_names):
            raise ValueError(
                f"RunInfo: num_tasks={self.num_tasks} but {len(self.task_names)} task names"
            )
        if self.scenario is not None and self.scenario not in ("CIL", "TIL", "IIL"):
            raise ValueError(f"RunInfo: scenario must be CIL, TIL or IIL, got {self.scenario!r}")


@dataclass
class TaskContext:
    """What a method learns about the task being trained. Everything is a typed field; a method
    reads these and never the trainer.

    index, name: position (0-based) and name of the task; num_tasks: length of the stream.
    train_data: the task's raw training examples (replay buffers, Fisher estimates), or None.
    collate: turns a list of raw examples into a model batch, or None.
    params: per-task hyperparameter overrides (e.g. ``{"lambda_1": 5.0}`` from an order table).
    epochs: epochs of this task (``extra_epochs`` included); steps_per_epoch: optimizer steps per
    epoch; total_steps: of the task. batch_size: examples per micro-batch per process;
    grad_accum: micro-batches per optimizer step; world_size/rank: processes and this one's
    index; device; precision: "no", "bf16" or "fp16"; seed: the run's seed; progress: whether
    long hooks may show progress bars.
    compute_loss(batch) -> (loss, outputs): the task loss of an on-device batch through the
    training module (DDP-wrapped under several processes), under autocast, ``forward_loss``
    included. backward(loss): the trainer's backward (loss scaling, DDP). autocast(): the
    trainer's autocast context. grad_scaler: the fp16 loss scaler, else None.
    """

    index: int
    name: str
    train_data: Sequence[Any] | None = None
    collate: Callable[[list[Any]], Any] | None = None
    params: dict[str, Any] = field(default_factory=dict)
    num_tasks: int | None = None
    epochs: int = 1
    steps_per_epoch: int | None = None
    total_steps: int | None = None
    batch_size: int | None = None
    grad_accum: int = 1
    world_size: int = 1
    rank: int = 0
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))
    precision: Literal["no", "bf16", "fp16"] = "no"
    seed: int = 0
    progress: bool = True
    compute_loss: Callable[[Any], tuple[torch.Tensor, Any]] | None = None
    backward: Callable[[torch.Tensor], None] | None = None
    autocast: Callable[[], contextlib.AbstractContextManager] | None = None
    grad_scaler: Any = None

    def run_backward(self, loss: torch.Tensor) -> None:
        """``backward(loss)`` when the trainer gave one, else ``loss.backward()``."""
        if self.backward is not None:
            self.backward(loss)
        else:
            loss.backward()

    def autocast_context(self) -> contextlib.AbstractContextManager:
        """The trainer's autocast, or a no-op outside the trainer."""
        return self.autocast() if self.autocast is not None else contextlib.nullcontext()


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


class TaskAwareModel(nn.Module):
    """A model that must know which task starts (per-task heads: CIL logits span heads 0..t).
    The trainer calls :meth:`begin_task` at every task start and resume, before the method's
    ``on_task_start``; a plain loop does the same."""

    def begin_task(self, index: int) -> None:
        raise NotImplementedError(f"{type(self).__name__} must implement begin_task")


class Method:
    """Base class: every hook is optional and does nothing by default (see the module table)."""

    name: ClassVar[str] = ""
    config_class: ClassVar[type[MethodConfig]] = MethodConfig
    joint_training: ClassVar[bool] = False
    trains: ClassVar[bool] = True
    eval_stop: ClassVar[str | None] = None
    optimizer_scope: OptimizerScope = "task"

    def __init__(self, config: MethodConfig | None = None) -> None:
        self.config = config if config is not None else self.config_class()
        if not isinstance(self.config, self.config_class):
            raise TypeError(
                f"method {self.name!r} expects a {self.config_class.__name__}, "
                f"got {type(self.config).__name__}"
            )
        self.task: TaskContext | None = None
        self.run: RunInfo | None = None
        self.optimizer: Optimizer | None = None  # the optimizer that outlives a task, if any

    # -- the run --------------------------------------------------------------------------------
    def bind_run(self, run: RunInfo) -> None:
        """Learn the stream before ``prepare``; subclasses fill unset config fields from it."""
        self.run = run

    def prepare(self, model: nn.Module) -> nn.Module:
        """Attach adapters, heads or buffers; return the model to train (may be the same object)."""
        return model

    def extra_epochs(self, task_index: int) -> int:
        """Epochs task ``task_index`` runs on top of the configured ones."""
        return 0

    # -- task boundaries ------------------------------------------------------------------------
    def on_task_start(self, task: TaskContext, model: nn.Module) -> None:
        self.task = task

    def on_task_resume(self, task: TaskContext, model: nn.Module) -> None:
        """Called instead of :meth:`on_task_start` when a run resumes in the middle of a task,
        after :meth:`load_state_dict` and before the model's saved weights are loaded back.
        The default repeats ``on_task_start``; methods whose task start is not idempotent
        (e.g. snapshotting a teacher) keep what they need in their state and override this."""
        self.on_task_start(task, model)

    def task_train_data(self, task: TaskContext, data: Sequence[Any]) -> Sequence[Any]:
        """Return the examples to train on for this task (dataset-level replay adds a buffer)."""
        return data

    # -- the optimizer --------------------------------------------------------------------------
    def trainable_parameters(self, model: nn.Module) -> list[nn.Parameter]:
        """Parameters the optimizer of the current task updates."""
        return [p for p in model.parameters() if p.requires_grad]

    def configure_optimizer(
        self, params: list[nn.Parameter], default: OptimizerFactory
    ) -> Optimizer:
        """Build one optimizer over ``params``; ``default`` builds the trainer's AdamW."""
        return default(params)

    def task_optimizer(
        self, task: TaskContext, params: list[nn.Parameter], default: OptimizerFactory
    ) -> Optimizer:
        """The optimizer of task ``task``, by :attr:`optimizer_scope`:

        - "task": a fresh :meth:`configure_optimizer` per task;
        - "carry": a fresh one per task that takes over the per-parameter state (Adam moments,
          step counts) of every parameter the previous task's optimizer held;
        - "run": one optimizer for the whole run; parameters not yet in it join it in the groups
          :meth:`configure_optimizer` gives them; parameters that stop training stay in it
          without gradients (untouched by Adam/AdamW/SGD).

        The optimizer that outlives a task is :attr:`optimizer` (checkpointed by the trainer at
        task boundaries, so a resumed run continues with the same state)."""
        scope = self.optimizer_scope
        if scope not in OPTIMIZER_SCOPES:
            raise ValueError(f"optimizer_scope must be one of {OPTIMIZER_SCOPES}, got {scope!r}")
        previous = self.optimizer
        if scope == "run" and previous is not None:
            join_optimizer(previous, params, lambda ps: self.configure_optimizer(ps, default))
            return previous
        optimizer = self.configure_optimizer(params, default)
        if scope == "carry" and previous is not None:
            carry_optimizer_state(previous, optimizer)
        self.optimizer = optimizer if scope != "task" else None
        return optimizer

    # -- per step -------------------------------------------------------------------------------
    def batch_examples(self, task: TaskContext, examples: list[Any]) -> list[Any]:
        """The raw examples of one micro-batch, before collation (batch-level replay adds or
        swaps in buffer rows here). Must be deterministic given the method's state."""
        return examples

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
        """Write per-task artifacts (e.g. the task's adapter in PEFT's format) into ``directory``.
        Called on the main process after :meth:`on_task_end`."""

    # -- evaluation -----------------------------------------------------------------------------
    def eval_model(self, model: nn.Module, task_name: str | None = None) -> nn.Module:
        """The module to evaluate (per-task adapters may select one by task name)."""
        return model

    def eval_examples(self, task_name: str, examples: Sequence[Any]) -> Sequence[Any]:
        """The evaluation examples of task ``task_name`` as the evaluator should see them, before
        collation (ICL attaches demonstrations). Must be deterministic given the method's state."""
        return examples

    # -- checkpointing ------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        """Method state carried between tasks (buffers, Fisher, snapshots), for checkpoints."""
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if state:
            raise ValueError(f"method {self.name!r} has no state but was given keys {list(state)}")


# ---- optimizer lifetimes (Method.task_optimizer) -------------------------------------------------


def _held(optimizer: Optimizer) -> Iterator[nn.Parameter]:
    for group in optimizer.param_groups:
        yield from group["params"]


def carry_optimizer_state(source: Optimizer, target: Optimizer) -> int:
    """Copy the per-parameter state of every parameter held by both optimizers from ``source``
    to ``target`` (the tensors are shared, ``source`` is meant to be dropped); returns how many
    parameters carried state."""
    held = {id(p) for p in _held(target)}
    carried = 0
    for p in _held(source):
        if id(p) in held and source.state.get(p):
            target.state[p] = source.state[p]
            carried += 1
    return carried


def join_optimizer(
    optimizer: Optimizer, params: list[nn.Parameter], build: OptimizerFactory
) -> list[nn.Parameter]:
    """Add the parameters of ``params`` that ``optimizer`` does not hold yet, in the groups that
    ``build`` (a fresh optimizer over them) gives them; returns the parameters added."""
    held = {id(p) for p in _held(optimizer)}
    new = [p for p in params if id(p) not in held]
    if new:
        for group in build(new).param_groups:
            optimizer.add_param_group(dict(group))
    return new
