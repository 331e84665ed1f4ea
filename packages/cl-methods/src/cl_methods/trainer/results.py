"""Scores the trainer collects: one cell per (after task i, task j)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass
class TaskScore:
    """An evaluation of one task. ``score`` is in percent; ``correct``/``total`` allow micro
    averages; ``predictions`` (dicts with at least ``prediction`` and ``gold``) are written to
    the run's prediction files."""

    score: float
    correct: int | None = None
    total: int | None = None
    predictions: list[dict[str, Any]] | None = None
    extra: dict[str, float] = field(default_factory=dict)

    @classmethod
    def coerce(cls, value: Any) -> TaskScore:
        if isinstance(value, TaskScore):
            return value
        if isinstance(value, (int, float)):
            return cls(score=float(value))
        raise TypeError(f"an evaluation must return a TaskScore or a number, got {type(value)}")


@dataclass
class ContinualResult:
    """Accuracy matrix and bookkeeping of a continual run.

    ``matrix[i][j]`` is the score on task j after training task i (None where not evaluated),
    ``extra[i][j]`` that evaluation's extra values (e.g. NLLs) when it reported any;
    ``baseline[j]`` the untrained model's score when ``eval_before_training`` was on;
    ``epoch_scores`` holds per-epoch evaluations ``{"task": i, "epoch": e, "scores": {name:
    {"score": ..., **extra}}}``; the evaluation before training (``eval_before_training``) is
    recorded with ``task = -1`` and ``epoch = 0``.
    """

    task_names: list[str]
    matrix: list[list[float | None]]
    correct: list[list[int | None]]
    total: list[list[int | None]]
    extra: list[list[dict[str, float] | None]] = field(default_factory=list)
    baseline: list[float | None] | None = None
    epoch_scores: list[dict[str, Any]] = field(default_factory=list)
    train_stats: list[dict[str, Any]] = field(default_factory=list)

    @classmethod
    def empty(cls, task_names: list[str], rows: int | None = None) -> ContinualResult:
        n, r = len(task_names), len(task_names) if rows is None else rows
        return cls(
            task_names=list(task_names),
            matrix=[[None] * n for _ in range(r)],
            correct=[[None] * n for _ in range(r)],
            total=[[None] * n for _ in range(r)],
            extra=[[None] * n for _ in range(r)],
        )

    def record(self, row: int, col: int, score: TaskScore) -> None:
        self.matrix[row][col] = float(score.score)
        self.correct[row][col] = score.correct
        self.total[row][col] = score.total
        self.extra[row][col] = dict(score.extra) if score.extra else None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ContinualResult:
        return cls(**data)

    def format_matrix(self, digits: int = 2) -> str:
        """A plain-text table of the matrix for terminals and logs."""
        names = self.task_names
        width = max(8, *(len(n) for n in names))
        head = " " * (width + 2) + "".join(f"{n[:width]:>{width + 2}}" for n in names)
        lines = [head]
        for i, row in enumerate(self.matrix):
            cells = "".join(
                f"{'-' if v is None else format(v, f'.{digits}f'):>{width + 2}}" for v in row
            )
            label = f"after {names[i]}" if i < len(names) else f"row {i}"
            lines.append(f"{label[: width + 2]:<{width + 2}}{cells}")
        return "\n".join(lines)
