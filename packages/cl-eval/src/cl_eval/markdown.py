"""Markdown tables: the accuracy matrix, the metrics, a whole run, and several runs side by side."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from cl_eval.matrix import AccuracyMatrix
from cl_eval.metrics import METRIC_LABELS, num_trained
from cl_eval.results import Results

MISSING = "-"


def _fmt(value: float | None, digits: int) -> str:
    return MISSING if value is None else f"{value:.{digits}f}"


def _escape(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    lines = [
        "| " + " | ".join(header) + " |",
        "|" + "|".join(["---"] + ["---:"] * (len(header) - 1)) + "|",
    ]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def matrix_markdown(matrix: AccuracyMatrix, *, digits: int = 2, train: bool = False) -> str:
    """``R`` as a table: one row per training step (plus ``initial`` for the baseline), one
    column per evaluated task; missing cells show ``-``. ``train=True`` renders ``R_train``."""
    m = matrix.train if train else matrix
    if m is None:
        raise ValueError("this matrix has no R_train")
    names = [_escape(t) for t in m.tasks]
    rows = []
    if not train and m.baseline is not None:
        rows.append(["initial", *(_fmt(v, digits) for v in m.baseline)])
    for i in range(max(num_trained(m), 1)):
        cells = [_fmt(m.score(i, j), digits) for j in range(m.num_tasks)]
        rows.append([f"{i}: {names[i]}", *cells])
    return _table(["after \\ on", *names], rows)


def metrics_markdown(metrics: Mapping[str, float | None], *, digits: int = 2) -> str:
    """A two-column table of metrics, known ones first under readable names; ``None`` as ``-``."""
    ordered = [k for k in METRIC_LABELS if k in metrics]
    ordered += [k for k in metrics if k not in METRIC_LABELS]
    rows = [[METRIC_LABELS.get(k, k), _fmt(metrics[k], digits)] for k in ordered]
    return _table(["metric", "value"], rows)


def results_markdown(results: Results, *, digits: int = 2, recompute: bool = True) -> str:
    """A whole run: the matrix (and ``R_train``), the metrics and the software versions."""
    m = results.matrix
    metrics = results.recompute() if recompute else results.metrics
    unit = "%" if m.scale == 100 else f"scale {m.scale:g}"
    parts = [
        f"# Results: {_escape(results.label)}\n",
        f"Score on the column task after training the row task ({unit}); "
        f"{num_trained(m)} of {m.num_tasks} tasks trained.\n",
        matrix_markdown(m, digits=digits),
    ]
    if m.train is not None:
        parts += ["## R_train (scores on the training sets)\n", matrix_markdown(m, train=True)]
    parts += [
        f"## Metrics (forgetting: {results.forgetting_variant})\n",
        metrics_markdown(metrics, digits=digits),
    ]
    if results.versions:
        listed = ", ".join(f"{k} {v}" for k, v in results.versions.items())
        parts.append(f"Software: {listed}.\n")
    return "\n".join(parts)


def compare_markdown(
    runs: Sequence[Results],
    *,
    names: Sequence[str] | None = None,
    per_task: bool = False,
    digits: int = 2,
) -> str:
    """One row per run with every metric any run has (recomputed from its matrix); with
    ``per_task``, also each task's final score. Values are in the first run's units."""
    if not runs:
        raise ValueError("compare needs at least one run")
    if names is not None and len(names) != len(runs):
        raise ValueError(f"{len(names)} names for {len(runs)} runs")
    labels = list(names) if names is not None else [r.label for r in runs]
    scale = runs[0].matrix.scale
    computed = [r.recompute() for r in runs]
    keys = [k for k in METRIC_LABELS if any(c.get(k) is not None for c in computed)]
    tasks: list[str] = []
    if per_task:
        for r in runs:
            tasks += [t for t in r.matrix.tasks if t not in tasks]
    rows = []
    for label, run, metrics in zip(labels, runs, computed):
        factor = scale / run.matrix.scale
        cells = [_fmt(None if (v := metrics.get(k)) is None else v * factor, digits) for k in keys]
        if per_task:
            m = run.matrix
            last = num_trained(m) - 1
            for task in tasks:
                value = m.score(last, task) if task in m.tasks and last >= 0 else None
                cells.append(_fmt(None if value is None else value * factor, digits))
        rows.append([_escape(label), *cells])
    header = ["run", *(METRIC_LABELS[k] for k in keys), *(_escape(t) for t in tasks)]
    return _table(header, rows)
