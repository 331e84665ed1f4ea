"""The ``cl-eval`` command: recompute metrics, rebuild ``R`` from predictions, compare runs.

    cl-eval metrics RESULTS.json [--check] [--write] [--from-predictions] [--out-dir DIR]
    cl-eval predictions FILE.jsonl [FILE.jsonl ...] [--tasks a,b,c] [--out-dir DIR]
    cl-eval compare A.json B.json [...] [--names a,b] [--per-task] [--out FILE.md]
    cl-eval aggregate S1.json S2.json [...] [--out SUMMARY.md] [--json FILE] [--names a,b]

Tables are printed as Markdown on stdout (``--json`` prints the metrics as JSON instead).
Exit status: 0 on success, 1 when ``--check`` finds stored metrics that differ from the
recomputed ones, 2 on bad input (one line naming the file). ``metrics`` and ``compare`` warn
about a final row that lacks cells and ``compare`` about runs with other task lists or
forgetting variants, ``aggregate`` about runs whose configurations differ in more than the
seed, name and output folder; ``--strict`` makes those warnings errors.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

from cl_eval import __version__
from cl_eval.aggregate import aggregate_files, aggregate_markdown, write_aggregate
from cl_eval.atomic import atomic_write_text
from cl_eval.checks import compare_warnings, matrix_warnings
from cl_eval.errors import EvalInputError, MissingDependencyError
from cl_eval.markdown import compare_markdown, results_markdown
from cl_eval.metrics import FORGETTING_VARIANTS, compute_metrics
from cl_eval.predictions import matrix_from_predictions
from cl_eval.report import write_report
from cl_eval.results import Results, make_results, read_results, write_results
from cl_eval.scores import NORMALISE_MODES


def _scoring_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--normalise",
        choices=NORMALISE_MODES,
        default="default",
        help="exact-match normalisation (default: lowercase, no punctuation, single spaces)",
    )
    parser.add_argument(
        "--strip-token",
        action="append",
        default=[],
        metavar="TOKEN",
        help="a special-token string removed before matching, e.g. '</s>' (repeatable)",
    )


def _output_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--forgetting",
        choices=FORGETTING_VARIANTS,
        default=None,
        help="forgetting variant: standard (max over earlier rows) or classic (last row too)",
    )
    parser.add_argument("--digits", type=int, default=2, help="decimals in tables (default 2)")
    parser.add_argument("--json", action="store_true", help="print the metrics as JSON")
    parser.add_argument(
        "--out-dir", default=None, help="also write results JSON, Markdown and heatmap here"
    )
    parser.add_argument("--no-plot", action="store_true", help="with --out-dir: skip the heatmap")


def _strict_option(
    parser: argparse.ArgumentParser,
    warned: str = "missing final-row cells, runs with other task lists or forgetting variants",
) -> None:
    parser.add_argument(
        "--strict", action="store_true", help=f"treat warnings ({warned}) as errors (exit 2)"
    )


def _warn(warnings: list[str], strict: bool) -> None:
    """Print each warning on stderr; with ``--strict`` the first one is an error."""
    if warnings and strict:
        raise EvalInputError(f"{warnings[0]} (--strict)")
    for warning in warnings:
        print(f"cl-eval: warning: {warning}", file=sys.stderr)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="cl-eval", description="Continual-learning metrics from results or predictions."
    )
    parser.add_argument("--version", action="version", version=f"cl-eval {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("metrics", help="recompute every metric from a results JSON")
    p.add_argument("results", help="a results JSON written by cl-eval")
    p.add_argument(
        "--from-predictions",
        action="store_true",
        help="rebuild R from the prediction files the results JSON lists",
    )
    p.add_argument(
        "--check", action="store_true", help="exit 1 if stored metrics differ from recomputed"
    )
    p.add_argument("--write", action="store_true", help="store the recomputed metrics in the JSON")
    _scoring_options(p)
    _output_options(p)
    _strict_option(p)

    p = sub.add_parser("predictions", help="build R and every metric from prediction files")
    p.add_argument("files", nargs="+", help="JSONL prediction files (see the cl-eval README)")
    p.add_argument("--tasks", default=None, help="comma-separated task order (default: inferred)")
    p.add_argument(
        "--scale", type=float, default=100.0, help="100 for %% (default), 1 for fractions"
    )
    p.add_argument("--name", default=None, help="the run's name in the report")
    _scoring_options(p)
    _output_options(p)

    p = sub.add_parser("compare", help="compare several runs in one Markdown table")
    p.add_argument("results", nargs="+", help="results JSON files")
    p.add_argument("--names", default=None, help="comma-separated run names (default: file stems)")
    p.add_argument("--per-task", action="store_true", help="add each task's final score")
    p.add_argument("--digits", type=int, default=2, help="decimals (default 2)")
    p.add_argument("--out", default=None, help="also write the table to this Markdown file")
    _strict_option(p)

    p = sub.add_parser(
        "aggregate",
        help="mean ± std of every metric and the mean matrix over runs of one experiment",
    )
    p.add_argument("results", nargs="+", help="results JSON files (same task list)")
    p.add_argument("--out", default=None, help="write the Markdown summary here (and a JSON)")
    p.add_argument(
        "--json", dest="json_out", default=None, help="the JSON summary (default: --out as .json)"
    )
    p.add_argument("--names", default=None, help="comma-separated run names (default: file stems)")
    p.add_argument("--name", default=None, help="a title for the summary")
    _strict_option(p, "runs whose configurations differ in more than seed, name and output")
    p.add_argument(
        "--ddof", type=int, default=1, help="std divisor n - ddof (default 1: sample std)"
    )
    p.add_argument("--digits", type=int, default=2, help="decimals (default 2)")
    return parser


def _differences(
    stored: Mapping[str, float | None], fresh: Mapping[str, float | None], scale: float
) -> list[str]:
    problems = []
    for key, value in fresh.items():
        old = stored.get(key)
        if old is None and value is None:
            continue
        same = (
            isinstance(old, int | float)
            and value is not None
            and math.isclose(old, value, rel_tol=1e-9, abs_tol=1e-9 * scale)
        )
        if not same:
            problems.append(f"{key}: stored {old!r}, recomputed {value!r}")
    return problems


def _emit(results: Results, args: argparse.Namespace) -> None:
    if args.json:
        print(json.dumps(results.metrics, indent=2))
    else:
        print(results_markdown(results, digits=args.digits), end="")
    if args.out_dir:
        written = write_report(results, args.out_dir, plot=False if args.no_plot else None)
        for kind, path in written.items():
            print(f"wrote {kind}: {path}", file=sys.stderr)


def _cmd_metrics(args: argparse.Namespace) -> int:
    results = read_results(args.results)
    stored = dict(results.metrics)
    if args.from_predictions:
        files = results.prediction_files()
        if not files:
            raise EvalInputError(
                "--from-predictions: the results list no prediction files", args.results
            )
        results.matrix = matrix_from_predictions(
            files,
            tasks=results.matrix.tasks,
            normalise=args.normalise,
            strip_tokens=args.strip_token,
            scale=results.matrix.scale,
        )
    if args.forgetting is not None:
        results.forgetting_variant = args.forgetting
    _warn(matrix_warnings(results, args.results), args.strict)
    results.metrics = compute_metrics(results.matrix, forgetting_variant=results.forgetting_variant)
    problems = _differences(stored, results.metrics, results.matrix.scale) if args.check else []
    if args.write:
        write_results(results, args.results)
    _emit(results, args)
    for problem in problems:
        print(f"cl-eval: metric differs: {problem}", file=sys.stderr)
    return 1 if problems else 0


def _cmd_predictions(args: argparse.Namespace) -> int:
    tasks = None if args.tasks is None else [t.strip() for t in args.tasks.split(",") if t.strip()]
    matrix = matrix_from_predictions(
        args.files,
        tasks=tasks,
        normalise=args.normalise,
        strip_tokens=args.strip_token,
        scale=args.scale,
    )
    results = make_results(
        matrix,
        config={"normalise": args.normalise, "strip_tokens": list(args.strip_token)},
        predictions=args.files,
        name=args.name,
        forgetting_variant=args.forgetting or "standard",
        detect_hardware=False,
    )
    _emit(results, args)
    return 0


def _cmd_compare(args: argparse.Namespace) -> int:
    runs = [read_results(path) for path in args.results]
    names = None if args.names is None else [n.strip() for n in args.names.split(",")]
    if names is not None and len(names) != len(runs):
        raise EvalInputError(f"--names gives {len(names)} names for {len(runs)} runs")
    _warn(compare_warnings(runs, names or list(args.results)), args.strict)
    table = compare_markdown(runs, names=names, per_task=args.per_task, digits=args.digits)
    print(table, end="")
    if args.out:
        atomic_write_text(args.out, table)
    return 0


def _cmd_aggregate(args: argparse.Namespace) -> int:
    names = None if args.names is None else [n.strip() for n in args.names.split(",")]
    agg = aggregate_files(args.results, names=names, ddof=args.ddof, name=args.name)
    if agg.config_differences:
        shown = ", ".join(agg.config_differences[:8])
        more = len(agg.config_differences) - 8
        _warn(
            [
                f"the runs' configurations differ in {shown}"
                + (f" and {more} more" if more > 0 else "")
                + " (not only in seed, name and output folder): are they one experiment?"
            ],
            args.strict,
        )
    print(aggregate_markdown(agg, digits=args.digits), end="")
    if args.out or args.json_out:
        out = args.out if args.out else str(Path(args.json_out).with_suffix(".md"))
        written = write_aggregate(agg, out, args.json_out, digits=args.digits)
        for kind, path in written.items():
            print(f"wrote {kind}: {path}", file=sys.stderr)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    args = build_parser().parse_args(argv)
    commands = {
        "metrics": _cmd_metrics,
        "predictions": _cmd_predictions,
        "compare": _cmd_compare,
        "aggregate": _cmd_aggregate,
    }
    try:
        return commands[args.command](args)
    except (EvalInputError, MissingDependencyError) as err:
        print(f"cl-eval: error: {err}", file=sys.stderr)
        return 2
