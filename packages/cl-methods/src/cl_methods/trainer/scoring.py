"""The run's evaluations: cells of the accuracy matrix (with their prediction files and tracker
values), the untrained baseline, and per-epoch scores. ``evaluate`` is the user's callable."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from ..method import Method
from .outputs import RunOutputs
from .results import ContinualResult, TaskScore
from .tasks import Evaluate


class Scorer:
    def __init__(
        self, evaluate: Evaluate | None, method: Method, accelerator: Any, outputs: RunOutputs
    ) -> None:
        self.evaluate, self.method, self.acc, self.outputs = evaluate, method, accelerator, outputs

    def score(self, model: nn.Module, task: Any) -> TaskScore:
        """``evaluate`` on the method's evaluation module, in eval mode, without gradients."""
        model = self.method.eval_model(model, task.name)
        was_training = model.training
        model.eval()
        try:
            with torch.no_grad():
                return TaskScore.coerce(self.evaluate(model, task, self.acc))
        finally:
            model.train(was_training)

    def row(self, result: ContinualResult, model, tasks: list, row: int, cols, step: int) -> None:
        """Score tasks ``cols`` into row ``row`` of the matrix and write their predictions."""
        if self.evaluate is None:
            return
        after = "joint" if self.method.joint_training else tasks[row].name
        for col in cols:
            score = self.score(model, tasks[col])
            result.record(row, col, score)
            self.outputs.write_predictions(row, after, tasks[col].name, score)
            self.acc.log({f"eval/{tasks[col].name}": score.score}, step=step)

    def scores(self, result: ContinualResult, model, tasks: list, task: int, epoch: int) -> None:
        """Score every task in ``tasks`` into ``result.epoch_scores`` (task -1: before training;
        the baseline row then holds the scores too)."""
        if self.evaluate is None:
            return
        scores = {t.name: self.score(model, t) for t in tasks}
        if task == -1:
            result.baseline = [s.score for s in scores.values()]
        entry = {n: {"score": s.score, **s.extra} for n, s in scores.items()}
        result.epoch_scores.append({"task": task, "epoch": epoch, "scores": entry})
