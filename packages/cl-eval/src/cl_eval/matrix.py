"""The accuracy matrix ``R[i][j]``: the score on task ``j`` after training task ``i``.

Cells that were never evaluated (tasks not trained yet, future evaluation off, an interrupted
run) are simply absent and read as ``None``. A cell may carry the counts it came from
(``correct`` of ``total`` examples) so that pooled (micro) averages can be computed. Beside ``R``
the matrix holds an optional baseline row ``b_j`` (the model before any training, for FWT) and an
optional second matrix ``train`` (``R_train``: scores on the training sets, for the IIL metrics).

Scores are in the units of ``scale``: 100 for percentages (the default), 1 for fractions. Every
metric is reported in the same units as the matrix.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from cl_eval.errors import EvalInputError

TaskKey = int | str


@dataclass(frozen=True)
class Cell:
    """One evaluation: the score, and the counts behind it when known."""

    score: float
    correct: int | None = None
    total: int | None = None

    @property
    def has_counts(self) -> bool:
        return self.correct is not None and self.total is not None


def _as_count(where: str, name: str, value: object) -> int:
    if isinstance(value, bool):
        raise EvalInputError(f"{where}: {name} must be an integer, got {value!r}")
    try:
        return operator.index(value)  # type: ignore[arg-type]
    except TypeError:
        raise EvalInputError(f"{where}: {name} must be an integer, got {value!r}") from None


def _make_cell(
    where: str, scale: float, score: float | None, correct: int | None, total: int | None
) -> Cell:
    value: float | None = None
    if score is not None:
        try:
            value = float(score)
        except (TypeError, ValueError):
            raise EvalInputError(f"{where}: score must be a number, got {score!r}") from None
    if (correct is None) != (total is None):
        raise EvalInputError(f"{where}: give both correct and total, or neither")
    if correct is not None and total is not None:
        correct = _as_count(where, "correct", correct)
        total = _as_count(where, "total", total)
        if total <= 0 or not 0 <= correct <= total:
            raise EvalInputError(
                f"{where}: counts need 0 <= correct <= total and total > 0, got {correct}/{total}"
            )
        from_counts = scale * correct / total
        if value is None:
            value = from_counts
        elif abs(value - from_counts) > 1e-6 * max(1.0, scale):
            raise EvalInputError(
                f"{where}: score {score} disagrees with counts {correct}/{total} "
                f"(= {from_counts} at scale {scale:g})"
            )
    if value is None:
        raise EvalInputError(f"{where}: give a score or counts (correct, total)")
    if not math.isfinite(value) or value < -1e-9 * scale or value > scale * (1 + 1e-9):
        raise EvalInputError(f"{where}: score {score!r} is outside [0, {scale:g}]")
    return Cell(value, correct, total)


class AccuracyMatrix:
    """``R[i][j]`` over a fixed, ordered list of task names, with missing cells allowed."""

    def __init__(self, tasks: Sequence[str], *, scale: float = 100.0) -> None:
        names = tuple(str(task) for task in tasks)
        if not names:
            raise EvalInputError("an accuracy matrix needs at least one task")
        if len(set(names)) != len(names):
            duplicates = sorted({n for n in names if names.count(n) > 1})
            raise EvalInputError(f"task names must be unique, repeated: {duplicates}")
        if not (isinstance(scale, int | float) and math.isfinite(scale) and scale > 0):
            raise EvalInputError(f"scale must be a positive number, got {scale!r}")
        self.tasks: tuple[str, ...] = names
        self.scale = float(scale)
        self.train: AccuracyMatrix | None = None
        self._cells: dict[tuple[int, int], Cell] = {}
        self._baseline: dict[int, Cell] = {}
        self._index = {name: i for i, name in enumerate(names)}

    # ----------------------------------------------------------------- indexing
    @property
    def num_tasks(self) -> int:
        return len(self.tasks)

    def task_index(self, task: TaskKey) -> int:
        """The 0-based position of ``task`` (an index or a task name)."""
        if isinstance(task, str):
            if task not in self._index:
                raise EvalInputError(f"unknown task {task!r}; tasks are {list(self.tasks)}")
            return self._index[task]
        try:
            index = operator.index(task)
        except TypeError:
            raise EvalInputError(f"a task is an index or a name, got {task!r}") from None
        if isinstance(task, bool) or not 0 <= index < self.num_tasks:
            raise EvalInputError(f"task index {task!r} is outside 0..{self.num_tasks - 1}")
        return index

    # ----------------------------------------------------------------- writing
    def record(
        self,
        after_task: TaskKey,
        task: TaskKey,
        score: float | None = None,
        *,
        correct: int | None = None,
        total: int | None = None,
    ) -> Cell:
        """Set ``R[after_task][task]`` from a score, from counts, or both (they must agree)."""
        i, j = self.task_index(after_task), self.task_index(task)
        where = f"R[{i}][{j}] (after {self.tasks[i]!r}, on {self.tasks[j]!r})"
        cell = _make_cell(where, self.scale, score, correct, total)
        self._cells[(i, j)] = cell
        return cell

    def record_baseline(
        self,
        task: TaskKey,
        score: float | None = None,
        *,
        correct: int | None = None,
        total: int | None = None,
    ) -> Cell:
        """Set ``b_j``: the score on ``task`` of the model before any training."""
        j = self.task_index(task)
        cell = _make_cell(f"baseline b[{j}] ({self.tasks[j]!r})", self.scale, score, correct, total)
        self._baseline[j] = cell
        return cell

    def record_train(
        self,
        after_task: TaskKey,
        task: TaskKey,
        score: float | None = None,
        *,
        correct: int | None = None,
        total: int | None = None,
    ) -> Cell:
        """Set ``R_train[after_task][task]`` (score on the training set), creating ``train``."""
        if self.train is None:
            self.train = AccuracyMatrix(self.tasks, scale=self.scale)
        return self.train.record(after_task, task, score, correct=correct, total=total)

    # ----------------------------------------------------------------- reading
    def cell(self, after_task: TaskKey, task: TaskKey) -> Cell | None:
        return self._cells.get((self.task_index(after_task), self.task_index(task)))

    def score(self, after_task: TaskKey, task: TaskKey) -> float | None:
        cell = self.cell(after_task, task)
        return None if cell is None else cell.score

    def baseline_cell(self, task: TaskKey) -> Cell | None:
        return self._baseline.get(self.task_index(task))

    def baseline_score(self, task: TaskKey) -> float | None:
        cell = self.baseline_cell(task)
        return None if cell is None else cell.score

    @property
    def has_baseline(self) -> bool:
        return bool(self._baseline)

    @property
    def baseline(self) -> list[float | None] | None:
        """``[b_0, ..., b_{T-1}]`` with ``None`` where missing; ``None`` if there is no baseline."""
        if not self._baseline:
            return None
        return [self.baseline_score(j) for j in range(self.num_tasks)]

    def rows(self) -> list[list[float | None]]:
        """The full ``T x T`` grid of scores, ``None`` where a cell is missing."""
        return [[self.score(i, j) for j in range(self.num_tasks)] for i in range(self.num_tasks)]

    def last_row(self) -> int | None:
        """The last row with at least one evaluated cell (the tasks trained so far - 1)."""
        return max((i for i, _ in self._cells), default=None)

    def is_empty(self) -> bool:
        return not self._cells

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, AccuracyMatrix):
            return NotImplemented
        return (
            self.tasks == other.tasks
            and self.scale == other.scale
            and self._cells == other._cells
            and self._baseline == other._baseline
            and self.train == other.train
        )

    def __repr__(self) -> str:
        filled = len(self._cells)
        return (
            f"AccuracyMatrix(tasks={list(self.tasks)}, scale={self.scale:g}, "
            f"cells={filled}/{self.num_tasks**2}, baseline={self.has_baseline}, "
            f"train={self.train is not None})"
        )

    # ----------------------------------------------------------------- building
    @classmethod
    def from_rows(
        cls,
        rows: Sequence[Sequence[float | None]],
        tasks: Sequence[str] | None = None,
        *,
        scale: float = 100.0,
        baseline: Sequence[float | None] | None = None,
        train_rows: Sequence[Sequence[float | None]] | None = None,
    ) -> AccuracyMatrix:
        """Build from nested lists: ragged lower-triangular rows or a square grid with ``None``.

        Without ``tasks`` the names are ``task0, task1, ...`` and ``T`` is the larger of the
        number of rows and the longest row.
        """
        if tasks is None:
            width = max([len(rows), *(len(row) for row in rows)], default=0)
            tasks = [f"task{k}" for k in range(width)]
        matrix = cls(tasks, scale=scale)
        _fill(matrix, rows, matrix.record, "rows")
        if baseline is not None:
            if len(baseline) > matrix.num_tasks:
                raise EvalInputError(
                    f"baseline has {len(baseline)} values for {matrix.num_tasks} tasks"
                )
            for j, value in enumerate(baseline):
                if value is not None:
                    matrix.record_baseline(j, value)
        if train_rows is not None:
            _fill(matrix, train_rows, matrix.record_train, "train_rows")
        return matrix

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict: tasks, scale, matrix, counts, baseline, train matrix."""
        size = range(self.num_tasks)
        out: dict[str, Any] = {"tasks": list(self.tasks), "scale": self.scale}
        out.update(_grid_dict(self, "matrix", "counts"))
        if self._baseline:
            cells = [self._baseline.get(j) for j in size]
            counts = _counts_of([cells])
            out["baseline"] = [None if c is None else c.score for c in cells]
            out["baseline_counts"] = (
                None if counts is None else {k: v[0] for k, v in counts.items()}
            )
        else:
            out["baseline"] = None
            out["baseline_counts"] = None
        if self.train is not None:
            out.update(_grid_dict(self.train, "train_matrix", "train_counts"))
        else:
            out["train_matrix"] = None
            out["train_counts"] = None
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, source: str | None = None) -> AccuracyMatrix:
        """Inverse of :meth:`to_dict`; ``source`` (a file name) is used in error messages."""
        try:
            tasks = data["tasks"]
            grid = data["matrix"]
        except KeyError as err:
            raise EvalInputError(f"missing key {err.args[0]!r}", source) from None
        try:
            matrix = cls(tasks, scale=data.get("scale", 100.0))
            _load_grid(matrix, grid, data.get("counts"), matrix.record, "matrix")
            base = data.get("baseline")
            if base is not None:
                counts = data.get("baseline_counts")
                wrapped = None if counts is None else {k: [v] for k, v in counts.items()}
                _load_grid(matrix, [base], wrapped, _baseline_setter(matrix), "baseline")
            train = data.get("train_matrix")
            if train is not None:
                _load_grid(matrix, train, data.get("train_counts"), matrix.record_train, "train")
        except EvalInputError as err:
            if source is None:
                raise
            raise EvalInputError(str(err), source) from None
        return matrix


def _baseline_setter(matrix: AccuracyMatrix) -> Any:
    def setter(_row: int, j: int, score: Any, *, correct: Any = None, total: Any = None) -> Cell:
        return matrix.record_baseline(j, score, correct=correct, total=total)

    return setter


def _fill(matrix: AccuracyMatrix, rows: Sequence[Sequence[Any]], setter: Any, name: str) -> None:
    if len(rows) > matrix.num_tasks:
        raise EvalInputError(f"{name} has {len(rows)} rows for {matrix.num_tasks} tasks")
    for i, row in enumerate(rows):
        if len(row) > matrix.num_tasks:
            raise EvalInputError(f"{name}[{i}] has {len(row)} values for {matrix.num_tasks} tasks")
        for j, value in enumerate(row):
            if value is not None:
                setter(i, j, value)


def _counts_of(cells: list[list[Cell | None]]) -> dict[str, list[list[int | None]]] | None:
    if not any(c is not None and c.has_counts for row in cells for c in row):
        return None
    return {
        "correct": [[None if c is None else c.correct for c in row] for row in cells],
        "total": [[None if c is None else c.total for c in row] for row in cells],
    }


def _grid_dict(matrix: AccuracyMatrix, grid_key: str, counts_key: str) -> dict[str, Any]:
    size = range(matrix.num_tasks)
    cells = [[matrix.cell(i, j) for j in size] for i in size]
    return {
        grid_key: [[None if c is None else c.score for c in row] for row in cells],
        counts_key: _counts_of(cells),
    }


def _load_grid(matrix: AccuracyMatrix, grid: Any, counts: Any, setter: Any, name: str) -> None:
    if not isinstance(grid, list) or not all(isinstance(row, list) for row in grid):
        raise EvalInputError(f"{name!r} must be a list of lists")
    correct = total = None
    if counts is not None:
        try:
            correct, total = counts["correct"], counts["total"]
        except (KeyError, TypeError):
            raise EvalInputError(f"counts of {name!r} need 'correct' and 'total' grids") from None
    if len(grid) > matrix.num_tasks:
        raise EvalInputError(f"{name!r} has {len(grid)} rows for {matrix.num_tasks} tasks")
    for i, row in enumerate(grid):
        if len(row) > matrix.num_tasks:
            raise EvalInputError(f"{name!r} row {i} has {len(row)} values for {matrix.num_tasks}")
        for j, value in enumerate(row):
            c = _at(correct, i, j)
            t = _at(total, i, j)
            if value is None and c is None:
                continue
            setter(i, j, value, correct=c, total=t)


def _at(grid: Any, i: int, j: int) -> Any:
    if grid is None:
        return None
    try:
        return grid[i][j]
    except (IndexError, TypeError):
        return None
