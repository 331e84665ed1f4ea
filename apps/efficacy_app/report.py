"""The study's tables, plots and budget check from the runs' ``results.json`` (issue 17).

Per dataset and scenario: ``<study>/<dataset>_<scenario>.md`` (AP, BWT, forgetting, diagonal mean
as mean ± std over seeds from ``cl_eval.aggregate``, runtime per run, the budget check, hardware),
``.json`` (the same numbers) and ``.png`` (AP against forgetting, one point per method, error bars
= std over seeds); each method's ``cl-eval aggregate`` summary in ``<dataset>/<scenario>/<key>/``.

MTL (joint training) has one row of scores, taken after training on every task at once: its AP is
the mean of that row (cl-eval's AP of a one-row matrix would be its first cell only), and BWT,
forgetting and the diagonal do not apply. Budget check: every diagonal cell R[j][j] of a method
must reach ``RATIO`` x MTL's mean score on task j.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from common.report import row_mean

from cl_eval.aggregate import Aggregate, aggregate_files, mean_std, write_aggregate
from cl_eval.atomic import atomic_write_text
from cl_eval.results import read_results

from .grid import METHODS, Dataset, MethodRow, Run
from .runner import finished

RATIO = 0.8
METRICS = ("ap", "bwt", "forgetting", "diagonal")


@dataclass
class MethodResult:
    row: MethodRow
    seeds: list[int]
    stats: dict[str, tuple[float | None, float | None]]  # metric -> (mean, std), in %
    per_task: list[float | None]  # mean final-row score per task (MTL: its only row), in %
    runtimes: list[float]
    diagonals: dict[int, list[float | None]]  # seed -> R[j][j] per task, in %
    aggregate: Aggregate | None = None
    failures: list[str] = field(default_factory=list)
    label: str = ""  # the row's label on its dataset (MethodRow.label_for)


def _pct(value: float | None, scale: float) -> float | None:
    return None if value is None else value * 100.0 / scale


def collect(
    row: MethodRow, paths: Sequence[Path], seeds: Sequence[int], dataset: Dataset
) -> MethodResult:
    """Aggregate one method's finished runs (``paths``: their results.json) on ``dataset``."""
    label = row.label_for(dataset)
    agg = aggregate_files(paths, names=[f"seed {s}" for s in seeds], name=label)
    scale, tasks = agg.scale, range(len(agg.tasks))
    runs = [read_results(p) for p in paths]
    runtimes = [float(r.hardware.get("runtime_s")) for r in runs if r.hardware.get("runtime_s")]
    if row.joint:
        joint = mean_std([_pct(row_mean(r.matrix), scale) for r in runs])
        stats = {"ap": (joint.mean, joint.std)}
        per_task = [_pct(agg.mean_matrix.score(0, j), scale) for j in tasks]
        diagonals: dict[int, list[float | None]] = {}
    else:
        stats = {}
        for key in METRICS:
            stat = agg.metrics.get(key)
            if stat is not None and stat.mean is not None:
                std = None if stat.std is None else stat.std * 100.0 / scale
                stats[key] = (_pct(stat.mean, scale), std)
        last = len(agg.tasks) - 1
        per_task = [_pct(agg.mean_matrix.score(last, j), scale) for j in tasks]
        diagonals = {
            s: [_pct(r.matrix.score(j, j), scale) for j in tasks] for s, r in zip(seeds, runs)
        }
    return MethodResult(row, list(seeds), stats, per_task, runtimes, diagonals, agg, label=label)


def budget_check(results: list[MethodResult], task_names: Sequence[str]) -> str | None:
    """Fill each result's ``failures`` (cells under RATIO x MTL); None when there is no MTL."""
    ref = next((r for r in results if r.row.reference), None)
    if ref is None:
        return None
    for res in results:
        if res.row.joint:
            continue
        for seed, diag in res.diagonals.items():
            for j, cell in enumerate(diag):
                bound = ref.per_task[j]
                if cell is None or bound is None or cell < RATIO * bound:
                    shown = "missing" if cell is None else f"{cell:.1f}"
                    res.failures.append(
                        f"seed {seed} {task_names[j]} {shown} < {RATIO:g} x {bound or 0:.1f}"
                    )
    return ref.label


def _pm(stat: tuple[float | None, float | None] | None) -> str:
    if stat is None or stat[0] is None:
        return "-"
    mean, std = stat
    return f"{mean:.1f}" if std is None else f"{mean:.1f} ± {std:.1f}"


def hardware_line(paths: Sequence[Path]) -> str:
    if not paths:
        return "no finished run"
    hw = read_results(paths[0]).hardware
    return (
        f"{hw.get('device', '?')}, {hw.get('cpu_count', '?')} CPU cores shared with other jobs, "
        f"{hw.get('torch_threads', '?')} torch thread(s), {hw.get('platform', '?')}"
    )


@dataclass
class Section:
    dataset: Dataset
    scenario: str
    planned: list[Run]
    unavailable: dict[str, str]  # method key -> reason


def write_section(section: Section, study: Path, plot: bool = True) -> dict[str, Any]:
    """Tables, JSON and plot of one dataset x scenario from what is finished in ``study``."""
    ds, scenario = section.dataset, section.scenario
    keys = list(dict.fromkeys(r.method.key for r in section.planned))
    keys = [k for k in METHODS if k in keys]
    results: list[MethodResult] = []
    all_paths: list[Path] = []
    missing: dict[str, list[int]] = {}
    task_names: list[str] = []
    for key in keys:
        runs = [r for r in section.planned if r.method.key == key]
        done = [r for r in runs if finished(r, study)]  # a stale result (other config) is out
        missing[key] = [r.seed for r in runs if r not in done]
        if not done:
            continue
        paths = [study / r.rel_dir / "results.json" for r in done]
        res = collect(METHODS[key], paths, [r.seed for r in done], ds)
        summary_md = study / ds.name / scenario / key / "summary.md"
        for info in res.aggregate.runs:  # committed: name the files relative to the summary
            if info.source is not None:
                info.source = os.path.relpath(info.source, summary_md.parent)
        write_aggregate(res.aggregate, summary_md)
        task_names = task_names or list(res.aggregate.tasks)
        all_paths += paths
        results.append(res)
    reference = budget_check(results, task_names)
    planned_n = len(section.planned)
    done_n = sum(len(r.seeds) for r in results)
    partial = (
        ", PARTIAL: rows with fewer than 3 seeds, or missing, are not final"
        if done_n < planned_n
        else ""
    )
    lines = [
        f"# {ds.title}, {scenario}: MiniLM + per-task heads (efficacy study, issue 17)",
        "",
        f"Produced by `apps/efficacy_study.py` from the runs' `results.json` ({done_n} of "
        f"{planned_n} planned runs finished{partial}).",
        "",
        f"- Budget, the same for every method: {ds.budget.describe()} "
        "(SEQ* adds its 3 warm-up epochs in task 0; MTL trains the same epochs over the union "
        "of the tasks); class order of data seed 1 for every run, seeds vary init and shuffling.",
        f"- Hardware: {hardware_line(all_paths)}; runtime = wall clock of one run, under load.",
        "- Metrics (%): AP = mean of the last row of R; BWT = mean (R[T-1][j] - R[j][j]); "
        "forgetting = mean (max_i R[i][j] - R[T-1][j]); diag = mean R[j][j]; mean ± sample std "
        "over seeds (`cl-eval aggregate`). MTL: AP = mean of its one row (after joint training).",
        f"- Budget check: every R[j][j] >= {RATIO:g} x MTL's score on task j "
        + ("(no MTL run yet: not checked)." if reference is None else f"(reference: {reference})."),
        "",
        "| method | seeds | AP | BWT | forgetting | diag | runtime s / run | budget check |",
        "|---|---|---:|---:|---:|---:|---:|---|",
    ]
    summary: dict[str, Any] = {"dataset": ds.name, "scenario": scenario, "methods": {}}
    for res in results:
        runtime = sum(res.runtimes) / len(res.runtimes) if res.runtimes else None
        if res.row.reference:
            check = "reference"
        elif res.row.joint:
            check = "upper bound of full fine-tuning"
        elif reference is None:
            check = "-"
        else:
            check = "ok" if not res.failures else f"FAIL: {'; '.join(res.failures)}"
        seeds = ",".join(map(str, res.seeds))
        cells = [_pm(res.stats.get(k)) for k in METRICS]
        rt = "-" if runtime is None else f"{runtime:.0f}"
        lines.append(f"| {res.label} | {seeds} | {' | '.join(cells)} | {rt} | {check} |")
        summary["methods"][res.row.key] = {
            "label": res.label,
            "seeds": res.seeds,
            "metrics": {k: {"mean": v[0], "std": v[1]} for k, v in res.stats.items()},
            "per_task_final": res.per_task,
            "diagonals": {str(s): d for s, d in res.diagonals.items()},
            "runtime_s": res.runtimes,
            "budget_failures": res.failures,
        }
    for key in keys:
        if key in section.unavailable:
            lines.append(
                f"| {METHODS[key].label_for(ds)} | - | not run: {section.unavailable[key]} ||||||"
            )
        elif key not in summary["methods"]:
            lines.append(f"| {METHODS[key].label_for(ds)} | - | not run yet ||||||")
    summary["missing"] = {k: v for k, v in missing.items() if v}
    summary["unavailable"] = dict(section.unavailable)
    summary["runs_finished"], summary["runs_planned"] = done_n, planned_n
    summary["checked"] = reference is not None  # the budget check needs an MTL run
    if results and task_names:
        lines += ["", "## Final accuracy per task (mean over seeds; MTL: its joint row)", ""]
        lines.append("| method | " + " | ".join(task_names) + " |")
        lines.append("|---|" + "---:|" * len(task_names))
        for res in results:
            cells = ["-" if v is None else f"{v:.1f}" for v in res.per_task]
            lines.append(f"| {res.label} | " + " | ".join(cells) + " |")
    stem = study / f"{ds.name}_{scenario}"
    study.mkdir(parents=True, exist_ok=True)
    if plot and results:
        from .plot import plot_ap_forgetting

        png = plot_ap_forgetting(results, stem.with_suffix(".png"), f"{ds.title}, {scenario}")
        lines += ["", f"![AP against forgetting]({png.name})"]
    atomic_write_text(stem.with_suffix(".md"), "\n".join(lines) + "\n")
    atomic_write_text(stem.with_suffix(".json"), json.dumps(summary, indent=1) + "\n")
    return summary


def write_index(summaries: Sequence[dict[str, Any]], study: Path, grids: Sequence[str]) -> Path:
    """``<study>/README.md``: what ran, what is missing, total runtime."""
    total_s = sum(sum(m["runtime_s"]) for s in summaries for m in s["methods"].values())
    done = sum(s["runs_finished"] for s in summaries)
    planned = sum(s["runs_planned"] for s in summaries)
    lines = [
        "# Efficacy study (issue 17): does each method reduce forgetting?",
        "",
        f"Grid(s): {', '.join(grids)}; {done} of {planned} planned runs finished"
        + (" (PARTIAL)" if done < planned else "")
        + f"; {total_s / 3600:.2f} h summed over the finished runs' runtimes.",
        "Run or complete it with `nox -s efficacy` (or `python apps/efficacy_study.py`); "
        "finished runs are skipped.",
        "Findings, investigations and caveats (hand-written): [NOTES.md](NOTES.md)."
        if (study / "NOTES.md").exists()
        else "",
        "",
        "| dataset | scenario | table | runs finished | missing (method: seeds) | not registered |",
        "|---|---|---|---:|---|---|",
    ]
    for s in summaries:
        name = f"{s['dataset']}_{s['scenario']}"
        miss = "; ".join(f"{k}: {','.join(map(str, v))}" for k, v in s["missing"].items()
                         if k not in s["unavailable"])  # fmt: skip
        lines.append(
            f"| {s['dataset']} | {s['scenario']} | [{name}.md]({name}.md) | "
            f"{s['runs_finished']}/{s['runs_planned']} | {miss or '-'} | "
            f"{', '.join(s['unavailable']) or '-'} |"
        )
    lines += ["", "Mean ± std over seeds (%); each section's full table is linked above.", ""]
    for s in summaries:
        lines += headline(s)
    path = study / "README.md"
    atomic_write_text(path, "\n".join(lines) + "\n")
    return path


def headline(summary: dict[str, Any]) -> list[str]:
    """A compact table of one section (AP, forgetting, diagonal, budget check), for READMEs."""

    def pm(m: dict[str, Any], key: str) -> str:
        stat = m["metrics"].get(key)
        return _pm(None if stat is None else (stat["mean"], stat["std"]))

    name = f"{summary['dataset']}_{summary['scenario']}"
    lines = [
        f"**{summary['dataset']} {summary['scenario']}** ({summary['runs_finished']} of "
        f"{summary['runs_planned']} planned runs; [full table]({name}.md)):",
        "",
        "| method | seeds | AP | forgetting | diag | budget check |",
        "|---|---|---:|---:|---:|---|",
    ]
    for key, m in summary["methods"].items():
        fails = m["budget_failures"]
        if METHODS[key].joint:
            check = "bound"
        elif not summary["checked"]:
            check = "-"
        else:
            n = len(fails)
            check = "ok" if not n else f"{n} cell{'s' if n > 1 else ''} under"
        seeds = ",".join(map(str, m["seeds"]))
        lines.append(
            f"| {m['label']} | {seeds} | {pm(m, 'ap')} | {pm(m, 'forgetting')} | "
            f"{pm(m, 'diagonal')} | {check} |"
        )
    return [*lines, ""]
