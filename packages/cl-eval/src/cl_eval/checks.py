"""Warnings about results that would otherwise be summed up silently: a final row that misses
cells (AP over fewer tasks), and runs compared side by side that are not comparable (other task
lists, another forgetting variant). ``cl-eval --strict`` turns them into errors."""

from __future__ import annotations

from collections.abc import Sequence

from cl_eval.metrics import num_trained
from cl_eval.results import Results


def matrix_warnings(results: Results, label: str) -> list[str]:
    """The cells of the final row ``R[T-1][j]`` (``j < T``) that are missing."""
    matrix = results.matrix
    t = num_trained(matrix)
    if t == 0:
        return [f"{label}: the accuracy matrix is empty"]
    missing = [matrix.tasks[j] for j in range(t) if matrix.score(t - 1, j) is None]
    if not missing:
        return []
    return [
        f"{label}: the final row (after task {t - 1} {matrix.tasks[t - 1]!r}) lacks "
        f"{', '.join(repr(m) for m in missing)}: AP and BWT average over {t - len(missing)} of "
        f"{t} tasks"
    ]


def compare_warnings(runs: Sequence[Results], names: Sequence[str]) -> list[str]:
    """Missing final-row cells of each run, and differences between the runs in task list or
    forgetting variant (they share one column of the table)."""
    out = [w for run, name in zip(runs, names, strict=True) for w in matrix_warnings(run, name)]
    tasks = {name: list(run.matrix.tasks) for run, name in zip(runs, names, strict=True)}
    if len({tuple(t) for t in tasks.values()}) > 1:
        shown = "; ".join(f"{n}: {', '.join(t)}" for n, t in tasks.items())
        out.append(f"the runs have different task lists ({shown})")
    variants = {name: run.forgetting_variant for run, name in zip(runs, names, strict=True)}
    if len(set(variants.values())) > 1:
        shown = ", ".join(f"{n}: {v}" for n, v in variants.items())
        out.append(f"the runs use different forgetting variants ({shown})")
    return out
