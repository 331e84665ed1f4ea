"""The task of a method that trains nothing (``Method.trains`` False, e.g. ICL)."""

from __future__ import annotations

from typing import Any

from ..method import TaskContext


def untrained_task(trainer: Any, ctx: TaskContext, task: Any, lr: float) -> dict[str, Any]:
    """Run the end-of-task hooks of ``trainer.method`` on the untouched model (no optimizer, no
    step) and return the task's training stats, which say that nothing was trained."""
    method, model = trainer.method, trainer.model
    method.on_task_end(ctx, model)
    if trainer.accelerator.is_main_process:
        method.export_task(ctx, model, trainer.outputs.task_folder(ctx.index, task.name))
    return {"task": task.name, "steps": 0, "epochs": 0, "lr": lr, "examples": 0,
            "mean_loss": None, "seconds": 0.0}  # fmt: skip
