"""Callbacks: code that watches a run without being part of it (fault injection in tests,
custom logging). Each hook receives a read-only :class:`TrainerView` of the position.

    class StopAt(TrainerCallback):
        def on_checkpoint_saved(self, view):
            if view.global_step >= 20:
                os.kill(os.getpid(), signal.SIGKILL)   # what tests/fault_injection.py does

    ContinualTrainer(model, method, config, callbacks=[StopAt()])

Hooks (all optional), called on every process:

- ``on_run_start(view)``: after the model is prepared and any checkpoint restored;
- ``on_task_start(view)``: after the method's ``on_task_start`` (or ``on_task_resume``);
- ``on_step_end(view)``: after each optimizer step (``view.applied`` says whether it was applied)
  and its checkpoint, if one was due;
- ``on_checkpoint_staged(view)``: a checkpoint's files are written under ``view.checkpoint`` (a
  temporary folder) and not yet committed (a kill here leaves the previous checkpoint latest);
- ``on_checkpoint_saved(view)``: the checkpoint ``view.checkpoint`` is committed and latest;
- ``on_task_end(view)``: after the task's evaluation row, checkpoint and results;
- ``on_run_end(view)``: after the last task.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class TrainerView:
    """Where a run stands. ``task``: index of the task being trained (or last trained);
    ``status``: "start", "in_task" or "task_done"; ``epoch`` and ``step_in_epoch`` count finished
    epochs and steps; ``task_step`` / ``global_step`` count optimizer steps in the task / the run;
    ``baseline_done``: the evaluation before training is done."""

    task: int
    status: str
    epoch: int
    step_in_epoch: int
    task_step: int
    global_step: int
    baseline_done: bool
    task_name: str | None
    num_tasks: int
    rank: int
    world_size: int
    output_dir: Path
    checkpoint: Path | None = None
    applied: bool | None = None
    loss: float | None = None
    task_skipped: int = 0  # optimizer steps of this task skipped for non-finite values
    task_loss_sum: float = 0.0
    task_loss_count: int = 0


class TrainerCallback:
    """Base class: every hook does nothing."""

    def on_run_start(self, view: TrainerView) -> None: ...

    def on_task_start(self, view: TrainerView) -> None: ...

    def on_step_end(self, view: TrainerView) -> None: ...

    def on_checkpoint_staged(self, view: TrainerView) -> None: ...

    def on_checkpoint_saved(self, view: TrainerView) -> None: ...

    def on_task_end(self, view: TrainerView) -> None: ...

    def on_run_end(self, view: TrainerView) -> None: ...
