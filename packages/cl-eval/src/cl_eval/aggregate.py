"""Several runs of one experiment (seeds, repeats) summarised: mean ± std of every metric and
the mean accuracy matrix.

    agg = aggregate_files(["s1/results.json", "s2/results.json", "s3/results.json"])
    agg.metrics["ap"].mean, agg.metrics["ap"].std          # over the runs
    write_aggregate(agg, "summary.md")                       # summary.md + summary.json

Rules:

- Every run must have the same task list and the same number of trained tasks (an unfinished
  run is refused, not averaged in), and the same forgetting variant; otherwise
  :class:`EvalInputError` names the run that differs. Scores are converted to the first run's
  units (``scale``).
- Each run's metrics are recomputed from its matrix (as ``cl-eval compare`` does), plus
  ``diagonal``, the mean of ``R[j][j]`` over the trained tasks (how well each task was learned
  when it was learned). A metric's mean and std run over the runs where it exists (``n``).
- std is the sample standard deviation (``ddof=1``, divisor ``n - 1``; ``None`` for one run);
  ``ddof=0`` gives the population one.
- The mean (and std) matrix is taken cell by cell over the runs that have the cell; so are the
  baseline row and ``R_train``.
- Each run's seed (``config["seed"]``, else ``config["trainer"]["seed"]``) and runtime
  (``hardware["runtime_s"]``, else ``extra["runtime_s"]``) are listed when present.
- ``config_differences`` lists the config keys (dotted) whose values differ between runs, other
  than the seed, the name and the output folder: the summary shows them, so that runs of
  different methods averaged by mistake are visible.
"""

from __future__ import annotations

import datetime as _dt
import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cl_eval.atomic import atomic_write_text
from cl_eval.errors import EvalInputError
from cl_eval.markdown import matrix_markdown
from cl_eval.matrix import AccuracyMatrix
from cl_eval.metrics import METRIC_LABELS, compute_metrics, num_trained
from cl_eval.results import Results, _dumps, read_results

AGGREGATE_FORMAT = "cl-eval/aggregate"
AGGREGATE_FORMAT_VERSION = 1
DIAGONAL = "diagonal"
AGGREGATE_LABELS = {**METRIC_LABELS, DIAGONAL: "Diagonal mean (R[j][j])"}
# Config keys expected to differ between the runs of one experiment.
PER_RUN_KEYS = ("seed", "name", "output_dir")


@dataclass
class Stat:
    """One metric over the runs: ``values`` per run (``None`` where the run lacks it)."""

    values: list[float | None]
    mean: float | None
    std: float | None
    n: int


@dataclass
class RunInfo:
    """What the summary lists for one run."""

    label: str
    source: str | None
    seed: int | None
    runtime_s: float | None
    metrics: dict[str, float | None]


@dataclass
class Aggregate:
    """The summary of several runs over the same tasks."""

    tasks: list[str]
    scale: float
    forgetting_variant: str
    ddof: int
    runs: list[RunInfo]
    metrics: dict[str, Stat]
    mean_matrix: AccuracyMatrix
    std_matrix: AccuracyMatrix
    name: str | None = None
    created: str | None = field(default=None)
    config_differences: list[str] = field(default_factory=list)

    @property
    def num_runs(self) -> int:
        return len(self.runs)


def mean_std(values: Sequence[float | None], ddof: int = 1) -> Stat:
    """Mean and standard deviation of the values that are not ``None``."""
    present = [float(v) for v in values if v is not None]
    n = len(present)
    mean = sum(present) / n if n else None
    std = None
    if mean is not None and n - ddof > 0:
        std = math.sqrt(sum((v - mean) ** 2 for v in present) / (n - ddof))
    return Stat(list(values), mean, std, n)


def diagonal_mean(matrix: AccuracyMatrix) -> float | None:
    """The mean of ``R[j][j]`` over the trained tasks (``None`` when no such cell exists)."""
    cells = [s for j in range(num_trained(matrix)) if (s := matrix.score(j, j)) is not None]
    return sum(cells) / len(cells) if cells else None


def _where(run: Results, index: int) -> str:
    return str(run.source) if run.source is not None else f"run {index} ({run.label})"


def _seed(config: Mapping[str, Any]) -> int | None:
    trainer = config.get("trainer")
    for value in (config.get("seed"), trainer.get("seed") if isinstance(trainer, dict) else None):
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    return None


def _runtime(run: Results) -> float | None:
    for value in (run.hardware.get("runtime_s"), run.extra.get("runtime_s")):
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
    return None


def _flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(value, Mapping) and value:
        out: dict[str, Any] = {}
        for key, item in value.items():
            out.update(_flatten(item, f"{prefix}{key}."))
        return out
    return {prefix[:-1]: value}


def config_differences(configs: Sequence[Mapping[str, Any]]) -> list[str]:
    """The dotted config keys whose values differ between ``configs`` (a key missing from one
    counts as different), except the per-run seed, name and output folder."""
    flat = [_flatten(c) for c in configs]
    keys = sorted({k for f in flat for k in f})
    missing = object()
    return [
        k
        for k in keys
        if k.rsplit(".", 1)[-1] not in PER_RUN_KEYS
        and len({repr(f.get(k, missing)) for f in flat}) > 1
    ]


def _labels(runs: Sequence[Results]) -> list[str]:
    """Run names for the tables: each run's label; when labels repeat (the seeds of one config
    share its name), the label plus the seed, else plus the results file's folder, else a
    number."""
    labels = [r.label for r in runs]
    if len(set(labels)) == len(labels):
        return labels
    seeds = [_seed(r.config) for r in runs]
    if None not in seeds and len(set(seeds)) == len(seeds):
        return [f"{label} (seed {seed})" for label, seed in zip(labels, seeds)]
    folders = [r.source.parent.name if r.source is not None else None for r in runs]
    if None not in folders and len(set(folders)) == len(folders):
        return [f"{label} ({folder})" for label, folder in zip(labels, folders)]
    return [f"{label} #{k + 1}" for k, label in enumerate(labels)]


def _check_same(runs: Sequence[Results]) -> None:
    first = runs[0]
    tasks, trained = list(first.matrix.tasks), num_trained(first.matrix)
    for k, run in enumerate(runs[1:], start=1):
        where = _where(run, k)
        if list(run.matrix.tasks) != tasks:
            raise EvalInputError(
                f"{where} has the task list {list(run.matrix.tasks)}, "
                f"{_where(first, 0)} has {tasks}: aggregate runs of one experiment only"
            )
        if num_trained(run.matrix) != trained:
            raise EvalInputError(
                f"{where} trained {num_trained(run.matrix)} of {len(tasks)} tasks but "
                f"{_where(first, 0)} trained {trained}: aggregate finished runs only"
            )
        if run.forgetting_variant != first.forgetting_variant:
            raise EvalInputError(
                f"{where} uses forgetting variant {run.forgetting_variant!r}, "
                f"{_where(first, 0)} {first.forgetting_variant!r}"
            )


def _cellwise(
    grids: Sequence[Sequence[Sequence[float | None]]], ddof: int
) -> tuple[list[list[float | None]], list[list[float | None]]]:
    rows, cols = len(grids[0]), len(grids[0][0]) if grids[0] else 0
    stats = [[mean_std([g[i][j] for g in grids], ddof) for j in range(cols)] for i in range(rows)]
    return (
        [[s.mean for s in row] for row in stats],
        [[s.std for s in row] for row in stats],
    )


def _build_matrices(
    matrices: Sequence[AccuracyMatrix], scale: float, ddof: int
) -> tuple[AccuracyMatrix, AccuracyMatrix]:
    tasks = list(matrices[0].tasks)

    def scaled(grid: Sequence[Sequence[float | None]], m: AccuracyMatrix):
        factor = scale / m.scale
        return [[None if v is None else v * factor for v in row] for row in grid]

    mean_rows, std_rows = _cellwise([scaled(m.rows(), m) for m in matrices], ddof)
    base = [[m.baseline or [None] * len(tasks)] for m in matrices]
    mean_base, std_base = _cellwise([scaled(b, m) for b, m in zip(base, matrices)], ddof)
    trains = [m.train for m in matrices if m.train is not None]
    mean_train = std_train = None
    if trains:
        mean_train, std_train = _cellwise([scaled(t.rows(), t) for t in trains], ddof)
    has_base = any(v is not None for v in mean_base[0])
    mean = AccuracyMatrix.from_rows(
        mean_rows,
        tasks,
        scale=scale,
        baseline=mean_base[0] if has_base else None,
        train_rows=mean_train,
    )
    std = AccuracyMatrix.from_rows(
        std_rows,
        tasks,
        scale=scale,
        baseline=std_base[0] if has_base else None,
        train_rows=std_train,
    )
    return mean, std


def aggregate_runs(
    runs: Sequence[Results],
    *,
    names: Sequence[str] | None = None,
    ddof: int = 1,
    name: str | None = None,
) -> Aggregate:
    """Summarise ``runs`` (see the module docstring); they must cover the same tasks."""
    if not runs:
        raise EvalInputError("aggregate needs at least one run")
    if names is not None and len(names) != len(runs):
        raise EvalInputError(f"{len(names)} names for {len(runs)} runs")
    if ddof < 0:
        raise EvalInputError(f"ddof must be 0 or more, got {ddof}")
    _check_same(runs)
    scale = runs[0].matrix.scale
    labels = list(names) if names is not None else _labels(runs)
    infos, per_run = [], []
    for label, run in zip(labels, runs):
        factor = scale / run.matrix.scale
        metrics = compute_metrics(run.matrix, forgetting_variant=run.forgetting_variant)
        metrics[DIAGONAL] = diagonal_mean(run.matrix)
        metrics = {k: None if v is None else v * factor for k, v in metrics.items()}
        per_run.append(metrics)
        source = None if run.source is None else str(run.source)
        infos.append(RunInfo(label, source, _seed(run.config), _runtime(run), metrics))
    keys = [k for k in AGGREGATE_LABELS if any(m.get(k) is not None for m in per_run)]
    stats = {k: mean_std([m.get(k) for m in per_run], ddof) for k in keys}
    mean, std = _build_matrices([r.matrix for r in runs], scale, ddof)
    return Aggregate(
        tasks=list(runs[0].matrix.tasks),
        scale=scale,
        forgetting_variant=runs[0].forgetting_variant,
        ddof=ddof,
        runs=infos,
        metrics=stats,
        mean_matrix=mean,
        std_matrix=std,
        name=name,
        created=_dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        config_differences=config_differences([r.config for r in runs]),
    )


def aggregate_files(
    paths: Sequence[str | os.PathLike[str]],
    *,
    names: Sequence[str] | None = None,
    ddof: int = 1,
    name: str | None = None,
) -> Aggregate:
    """:func:`aggregate_runs` over results JSON files (read with :func:`read_results`)."""
    return aggregate_runs([read_results(p) for p in paths], names=names, ddof=ddof, name=name)


# -- output ---------------------------------------------------------------------------------------
def _fmt(value: float | None, digits: int) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def _pm(stat: Stat, digits: int) -> str:
    if stat.mean is None:
        return "-"
    if stat.std is None:
        return _fmt(stat.mean, digits)
    return f"{stat.mean:.{digits}f} ± {stat.std:.{digits}f}"


def _row(cells: Sequence[str]) -> str:
    return "| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |"


def aggregate_markdown(agg: Aggregate, *, digits: int = 2) -> str:
    """The summary as Markdown: metrics (mean ± std and each run's value), the runs (seed,
    runtime, file), and the mean and std matrices."""
    unit = "%" if agg.scale == 100 else f"scale {agg.scale:g}"
    std_kind = "sample std (n-1)" if agg.ddof == 1 else f"std with ddof={agg.ddof}"
    title = agg.name or "runs"
    labels = [r.label for r in agg.runs]
    lines = [
        f"# Aggregate: {title} ({agg.num_runs} runs)",
        "",
        f"Mean ± {std_kind} over {agg.num_runs} runs of {len(agg.tasks)} tasks "
        f"({', '.join(agg.tasks)}); scores in {unit}; forgetting: {agg.forgetting_variant}. "
        "Each run's metrics are recomputed from its matrix; n = runs with that metric.",
        "",
        "Configs differ in: " + ", ".join(f"`{k}`" for k in agg.config_differences) + "."
        if agg.config_differences
        else "Configs agree except in the seed, name and output folder.",
        "",
        "## Metrics",
        "",
        _row(["metric", "mean ± std", "n", *labels]),
        "|" + "|".join(["---"] + ["---:"] * (2 + len(labels))) + "|",
    ]
    for key, stat in agg.metrics.items():
        values = [_fmt(v, digits) for v in stat.values]
        lines.append(_row([AGGREGATE_LABELS[key], _pm(stat, digits), str(stat.n), *values]))
    lines += ["", "## Runs", "", _row(["run", "seed", "runtime (s)", "results file"])]
    lines.append("|---|---:|---:|---|")
    for run in agg.runs:
        seed = "-" if run.seed is None else str(run.seed)
        runtime = _fmt(run.runtime_s, 1)
        lines.append(_row([run.label, seed, runtime, run.source or "-"]))
    runtimes = [r.runtime_s for r in agg.runs if r.runtime_s is not None]
    if runtimes:
        lines += ["", f"Total runtime: {sum(runtimes):.1f} s over {len(runtimes)} runs."]
    lines += [
        "",
        "## Mean accuracy matrix R[i][j] (after task i, on task j)",
        "",
        matrix_markdown(agg.mean_matrix, digits=digits).rstrip("\n"),
        "",
        "## Std of R[i][j]",
        "",
        matrix_markdown(agg.std_matrix, digits=digits).rstrip("\n"),
    ]
    if agg.mean_matrix.train is not None:
        lines += [
            "",
            "## Mean R_train",
            "",
            matrix_markdown(agg.mean_matrix, digits=digits, train=True).rstrip("\n"),
        ]
    return "\n".join(lines) + "\n"


def aggregate_to_dict(agg: Aggregate) -> dict[str, Any]:
    """The JSON form of the summary."""
    return {
        "format": AGGREGATE_FORMAT,
        "format_version": AGGREGATE_FORMAT_VERSION,
        "name": agg.name,
        "created": agg.created,
        "tasks": list(agg.tasks),
        "scale": agg.scale,
        "forgetting_variant": agg.forgetting_variant,
        "ddof": agg.ddof,
        "num_runs": agg.num_runs,
        "config_differences": list(agg.config_differences),
        "metrics": {
            k: {"mean": s.mean, "std": s.std, "n": s.n, "values": list(s.values)}
            for k, s in agg.metrics.items()
        },
        "mean_matrix": agg.mean_matrix.rows(),
        "std_matrix": agg.std_matrix.rows(),
        "mean_baseline": agg.mean_matrix.baseline,
        "mean_train_matrix": None
        if agg.mean_matrix.train is None
        else agg.mean_matrix.train.rows(),
        "runs": [
            {
                "label": r.label,
                "source": r.source,
                "seed": r.seed,
                "runtime_s": r.runtime_s,
                "metrics": dict(r.metrics),
            }
            for r in agg.runs
        ],
    }


def write_aggregate(
    agg: Aggregate,
    markdown_path: str | os.PathLike[str],
    json_path: str | os.PathLike[str] | None = None,
    *,
    digits: int = 2,
) -> dict[str, Path]:
    """Write the Markdown summary and its JSON (default: the Markdown path with ``.json``),
    each atomically; returns the paths by kind (``markdown``, ``json``)."""
    md = Path(markdown_path)
    js = Path(json_path) if json_path is not None else md.with_suffix(".json")
    if js == md:
        raise EvalInputError("the JSON summary would overwrite the Markdown one", md)
    return {
        "markdown": atomic_write_text(md, aggregate_markdown(agg, digits=digits)),
        "json": atomic_write_text(js, _dumps(aggregate_to_dict(agg)) + "\n"),
    }
