"""Continual-learning metrics over an accuracy matrix ``R`` (benchmark spec, section 3).

``T`` is the number of tasks trained so far: the last row with any evaluated cell, plus one. So
the metrics of an unfinished run describe the tasks seen so far, and a finished run uses every
row. Missing cells are skipped: each mean runs over the terms whose cells exist, and a metric
with no term at all is ``None``. Metrics that compare rows (forgetting, BWT, FWT) are ``None``
when ``T = 1``. Values are in the matrix's units (``scale``): a matrix of fractions gives
fractions, a matrix of percentages gives percentages.

- AP (average performance, also AA or OP): ``mean_j R[T-1][j]`` over ``j < T``; the micro
  variant pools the examples of the last row (it needs the cells' counts).
- Average incremental accuracy: ``(1/T) sum_i mean_{j<=i} R[i][j]``.
- Forgetting, ``variant="standard"``: ``mean_{j<T-1} (max_{j<=i<T-1} R[i][j] - R[T-1][j])``.
  Cells above the diagonal (future evaluation, task not learned yet) never enter the max.
  ``variant="classic"`` (classic-methods spec): the max runs over ``j <= i <= T-1``, last row
  included, so the value is never negative.
- BWT: ``mean_{j<T-1} (R[T-1][j] - R[j][j])``.
- FWT: ``mean_{1<=j<T} (R[j-1][j] - b_j)``, with ``b_j`` the baseline row; needs future
  evaluation and the baseline, else ``None``.
- IIL (classic-methods spec): MA = AP(R_train), GA = AP(R), MF = F(R_train), GF = F(R), with
  the classic forgetting by default.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

from cl_eval.matrix import AccuracyMatrix

MatrixLike = AccuracyMatrix | Sequence[Sequence[float | None]]
ForgettingVariant = Literal["standard", "classic"]
FORGETTING_VARIANTS: tuple[str, ...] = ("standard", "classic")

METRIC_LABELS: dict[str, str] = {
    "ap": "AP (macro)",
    "ap_micro": "AP (micro)",
    "aia": "Average incremental accuracy",
    "forgetting": "Forgetting",
    "bwt": "BWT",
    "fwt": "FWT",
    "ma": "MA (IIL, train)",
    "ga": "GA (IIL, test)",
    "mf": "MF (IIL, train)",
    "gf": "GF (IIL, test)",
}


def as_matrix(data: MatrixLike) -> AccuracyMatrix:
    """Return ``data`` itself, or an :class:`AccuracyMatrix` built from nested lists."""
    if isinstance(data, AccuracyMatrix):
        return data
    return AccuracyMatrix.from_rows(data)


def _mean(values: list[float]) -> float | None:
    return sum(values) / len(values) if values else None


def num_trained(data: MatrixLike) -> int:
    """``T``: the index of the last row with any evaluated cell, plus one (0 when empty)."""
    last = as_matrix(data).last_row()
    return 0 if last is None else last + 1


def _final_row(m: AccuracyMatrix) -> list[tuple[int, float]]:
    t = num_trained(m)
    return [(j, s) for j in range(t) if (s := m.score(t - 1, j)) is not None]


def average_performance(data: MatrixLike) -> float | None:
    """AP (macro): the mean over tasks ``j < T`` of ``R[T-1][j]``."""
    m = as_matrix(data)
    return _mean([score for _, score in _final_row(m)])


def average_performance_micro(data: MatrixLike) -> float | None:
    """AP (micro): ``scale * sum correct / sum total`` over the last row (``None`` if uncounted)."""
    m = as_matrix(data)
    t = num_trained(m)
    cells = [m.cell(t - 1, j) for j in range(t)] if t else []
    cells = [c for c in cells if c is not None]
    if not cells or not all(c.has_counts for c in cells):
        return None
    correct = sum(c.correct for c in cells if c.correct is not None)
    total = sum(c.total for c in cells if c.total is not None)
    return m.scale * correct / total


def average_incremental_accuracy(data: MatrixLike) -> float | None:
    """``(1/T) sum_i mean_{j<=i} R[i][j]``, over the rows that have a cell with ``j <= i``."""
    m = as_matrix(data)
    row_means = []
    for i in range(num_trained(m)):
        mean = _mean([s for j in range(i + 1) if (s := m.score(i, j)) is not None])
        if mean is not None:
            row_means.append(mean)
    return _mean(row_means)


def forgetting(data: MatrixLike, variant: ForgettingVariant = "standard") -> float | None:
    """Average forgetting of tasks ``j < T-1`` (see the module docstring for the variants)."""
    if variant not in FORGETTING_VARIANTS:
        raise ValueError(
            f"forgetting variant must be one of {FORGETTING_VARIANTS}, got {variant!r}"
        )
    m = as_matrix(data)
    t = num_trained(m)
    if t < 2:
        return None
    stop = t if variant == "classic" else t - 1
    terms = []
    for j, final in _final_row(m):
        if j >= t - 1:
            continue
        earlier = [s for i in range(j, stop) if (s := m.score(i, j)) is not None]
        if earlier:
            terms.append(max(earlier) - final)
    return _mean(terms)


def backward_transfer(data: MatrixLike) -> float | None:
    """BWT: the mean over ``j < T-1`` of ``R[T-1][j] - R[j][j]``."""
    m = as_matrix(data)
    t = num_trained(m)
    if t < 2:
        return None
    terms = [
        final - learned
        for j, final in _final_row(m)
        if j < t - 1 and (learned := m.score(j, j)) is not None
    ]
    return _mean(terms)


def forward_transfer(data: MatrixLike) -> float | None:
    """FWT: the mean over ``1 <= j < T`` of ``R[j-1][j] - b_j``; ``None`` without those cells."""
    m = as_matrix(data)
    t = num_trained(m)
    if t < 2 or not m.has_baseline:
        return None
    terms = []
    for j in range(1, t):
        before = m.score(j - 1, j)
        base = m.baseline_score(j)
        if before is not None and base is not None:
            terms.append(before - base)
    return _mean(terms)


def iil_metrics(
    data: AccuracyMatrix, forgetting_variant: ForgettingVariant = "classic"
) -> dict[str, float | None]:
    """MA, GA, MF, GF from ``R_train`` (``data.train``) and ``R``; MA, MF ``None`` without it."""
    train = data.train
    return {
        "ma": None if train is None else average_performance(train),
        "ga": average_performance(data),
        "mf": None if train is None else forgetting(train, forgetting_variant),
        "gf": forgetting(data, forgetting_variant),
    }


def compute_metrics(
    data: MatrixLike, *, forgetting_variant: ForgettingVariant = "standard"
) -> dict[str, float | None]:
    """Every metric by name: ap, ap_micro, aia, forgetting, bwt, fwt, and when the matrix has
    ``R_train``, the IIL metrics ma, ga, mf, gf (their forgetting uses the same variant)."""
    m = as_matrix(data)
    out: dict[str, float | None] = {
        "ap": average_performance(m),
        "ap_micro": average_performance_micro(m),
        "aia": average_incremental_accuracy(m),
        "forgetting": forgetting(m, forgetting_variant),
        "bwt": backward_transfer(m),
        "fwt": forward_transfer(m),
    }
    if m.train is not None:
        out.update(iil_metrics(m, forgetting_variant))
    return out


def per_task_scores(data: MatrixLike) -> list[dict[str, Any]]:
    """One record per task: its final score, the score just after learning it, its best score
    since, the baseline, and the final counts (``None`` where not available)."""
    m = as_matrix(data)
    t = num_trained(m)
    records = []
    for j, name in enumerate(m.tasks):
        final = m.cell(t - 1, j) if t else None
        seen = [s for i in range(j, t) if (s := m.score(i, j)) is not None]
        records.append(
            {
                "task": name,
                "index": j,
                "final": None if final is None else final.score,
                "after_own_task": m.score(j, j),
                "best": max(seen) if seen else None,
                "baseline": m.baseline_score(j),
                "final_correct": None if final is None else final.correct,
                "final_total": None if final is None else final.total,
            }
        )
    return records
