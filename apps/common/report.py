"""Turn a trainer result into cl-eval's report (JSON, Markdown, heatmap) and print a summary."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from cl_eval import AccuracyMatrix, make_results, matrix_markdown, write_report
from cl_methods import ContinualResult


def to_accuracy_matrix(result: ContinualResult, train_key: str | None = None) -> AccuracyMatrix:
    """R from the result; with ``train_key``, also R_train from that extra value of each cell
    (the IIL memorisation score)."""
    matrix = AccuracyMatrix(result.task_names)
    for i, row in enumerate(result.matrix):
        for j, score in enumerate(row):
            if score is not None:
                matrix.record(i, j, score, correct=result.correct[i][j], total=result.total[i][j])
    if result.baseline is not None:
        for j, score in enumerate(result.baseline):
            if score is not None:
                matrix.record_baseline(j, score)
    if train_key is not None:
        for i, row in enumerate(result.extra or []):
            for j, extra in enumerate(row or []):
                if extra and train_key in extra:
                    matrix.record_train(i, j, extra[train_key])
    return matrix


def run_predictions(result: ContinualResult, output_dir: Path) -> list[Path]:
    """The prediction files of this run's cells (``predictions/after<row>_<task>.jsonl`` of the
    scored cells), never whatever else the folder holds."""
    folder = output_dir / "predictions"
    out = []
    for i, row in enumerate(result.matrix):
        for j, score in enumerate(row):
            path = folder / f"after{i:02d}_{result.task_names[j]}.jsonl"
            if score is not None and path.is_file():
                out.append(path)
    return sorted(out)


def row_mean(matrix: AccuracyMatrix, row: int = 0) -> float | None:
    """The mean of ``row``'s scored cells, in ``matrix``'s units (None when none is scored). A
    joint-training run's score is that of its one row (cl-eval's AP of it counts task 0 only)."""
    cells = [c for j in range(matrix.num_tasks) if (c := matrix.score(row, j)) is not None]
    return sum(cells) / len(cells) if cells else None


def joint_mean(result: ContinualResult, matrix: AccuracyMatrix) -> float | None:
    """A joint-training run (one row of scores over every one of several tasks): its
    :func:`row_mean`; None for a sequential run or an incomplete row."""
    if len(result.matrix) != 1 or len(result.task_names) < 2 or None in result.matrix[0]:
        return None
    return row_mean(matrix)


def write_run_report(
    result: ContinualResult,
    output_dir: str | Path,
    *,
    name: str,
    train_key: str | None = None,
    forgetting_variant: str = "standard",
    config: dict[str, Any],
    hardware: dict[str, Any],
    plot: bool = True,
    extra: dict[str, Any] | None = None,
) -> dict[str, Path]:
    """Write results.json, results.md and results.png into ``output_dir``; print R, AP, BWT.
    ``extra`` entries (e.g. the task-update analysis) go into results.json as they are."""
    output_dir = Path(output_dir)
    predictions = run_predictions(result, output_dir)
    results = make_results(
        to_accuracy_matrix(result, train_key),
        forgetting_variant=forgetting_variant,
        config=config,
        hardware=hardware,
        predictions=predictions,
        name=name,
        extra={
            "train_stats": result.train_stats,
            "epoch_scores": result.epoch_scores,
            **(extra or {}),
        },
    )
    joint = joint_mean(result, results.matrix)  # in the units the metrics are printed in
    if joint is not None:
        results.extra["joint_mean"] = joint
    paths = write_report(results, output_dir, plot=plot)
    metrics = results.metrics
    print(f"\n{name}: accuracy matrix R[i][j] (after task i, on task j)")
    print(matrix_markdown(results.matrix))

    def fmt(key: str) -> str:
        value = metrics.get(key)
        return "n/a" if value is None else f"{value:.2f}"

    print(
        f"AP = {fmt('ap')} (micro {fmt('ap_micro')})   BWT = {fmt('bwt')}   "
        f"forgetting = {fmt('forgetting')}   FWT = {fmt('fwt')}"
    )
    if joint is not None:
        print(
            f"joint training: mean of the one row over every task = {joint:.2f} (AP and BWT "
            "above are the matrix's and count task 0 only)"
        )
    print("written: " + ", ".join(str(p) for p in paths.values()))
    skipped = {s["task"]: s["skipped_steps"] for s in result.train_stats if s.get("skipped_steps")}
    if skipped:
        shown = ", ".join(f"{task} {n}" for task, n in skipped.items())
        print(f"warning: optimizer steps skipped for non-finite values: {shown}", file=sys.stderr)
    return paths
