"""`cl-data`: summarise a benchmark folder, or export a task stream's prompts (JSONL, Parquet).

    cl-data summary [DIR] [--synthetic] [--json FILE]
    cl-data export --order N [--data-dir DIR | --synthetic] --out FILE.{jsonl,parquet} [options]

DIR may hold either layout: `CL_Benchmark` (`<TaskType>/<dataset>/...`) or
`long_sequence_instruct` (`{train,dev,test}/<task>.json`); the layout is detected.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from cl_data.benchmark import default_benchmark_dir, load_stream
from cl_data.errors import DataError
from cl_data.export import export_stream
from cl_data.long_sequence import load_instruct_stream
from cl_data.summary import detect_layout, summarize, summarize_stream
from cl_data.synthetic import synthetic_stream
from cl_data.task import SPLITS, TaskStream


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="cl-data", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)

    summary = sub.add_parser("summary", help="tasks, sizes, label counts and problems of a folder")
    summary.add_argument("dir", nargs="?", type=Path, help="default: $CL_SHARED_DATA/CL_Benchmark")
    summary.add_argument("--synthetic", action="store_true", help="summarise the synthetic tasks")
    summary.add_argument("--synthetic-seed", type=int, default=0, help="synthetic data seed")
    summary.add_argument("--json", type=Path, help="also write the summary to this JSON file")

    export = sub.add_parser("export", help="write a task stream's prompts to JSONL or Parquet")
    export.add_argument("--order", type=int, required=True, help="O-LoRA order number 1-6")
    source = export.add_mutually_exclusive_group()
    source.add_argument("--data-dir", type=Path, help="default: $CL_SHARED_DATA/CL_Benchmark")
    source.add_argument("--synthetic", action="store_true", help="the embedded synthetic tasks")
    export.add_argument(
        "--out", type=Path, required=True, help="output file: .jsonl, or .parquet (via datasets)"
    )
    export.add_argument("--splits", default="train,dev,test", help="comma-separated splits")
    export.add_argument("--template", choices=["default", "alpaca"], default="default")
    export.add_argument("--max-train-samples", type=int)
    export.add_argument("--max-test-samples", type=int)
    export.add_argument("--seed", type=int, default=42, help="sub-sampling seed")
    export.add_argument("--synthetic-seed", type=int, default=0, help="synthetic data seed")
    export.add_argument("--balanced", action="store_true", help="class-balanced sub-samples")
    export.add_argument("--drop-unlabelled", action="store_true", help="drop MNLI '-' rows")
    export.add_argument(
        "--kif-numbering", action="store_true", help="--order is a Recurrent-KIF id (long-seq)"
    )
    export.add_argument(
        "--test-file",
        action="append",
        default=[],
        metavar="TASK=PATH",
        help="explicit test file of a long-sequence task (dbpedia, yahoo)",
    )
    return parser


def _run_summary(args: argparse.Namespace) -> int:
    if args.synthetic:
        summary = summarize_stream(synthetic_stream(seed=args.synthetic_seed))
    else:
        summary = summarize(args.dir or default_benchmark_dir())
    print(summary.format())
    if args.json:
        summary.write_json(args.json)
    return 1 if summary.errors else 0


def _stream(args: argparse.Namespace) -> TaskStream:
    if args.synthetic:
        return synthetic_stream(args.order, seed=args.synthetic_seed)
    root = args.data_dir or default_benchmark_dir()
    if detect_layout(root) == "instruct":
        test_files = {}
        for item in args.test_file:
            task, sep, path = item.partition("=")
            if not sep or not task or not path:
                raise DataError(f"--test-file expects TASK=PATH, got {item!r}")
            test_files[task] = path
        return load_instruct_stream(
            args.order, root, kif_numbering=args.kif_numbering, test_files=test_files
        )
    if args.kif_numbering or args.test_file:
        raise DataError("--kif-numbering and --test-file apply to a long-sequence folder only")
    return load_stream(args.order, root, drop_unlabelled=args.drop_unlabelled)


def _run_export(args: argparse.Namespace) -> int:
    splits = [s.strip() for s in args.splits.split(",") if s.strip()]
    unknown = [s for s in splits if s not in SPLITS]
    if unknown or not splits:
        raise DataError(f"--splits must list some of {', '.join(SPLITS)}, got {args.splits!r}")
    stream = _stream(args).subsample(
        max_train_samples=args.max_train_samples,
        max_test_samples=args.max_test_samples,
        seed=args.seed,
        balanced=args.balanced,
    )
    count = export_stream(stream, args.out, splits=splits, template=args.template)
    print(f"wrote {count} examples of {len(stream)} tasks ({stream.name}) to {args.out}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        if args.command == "summary":
            return _run_summary(args)
        return _run_export(args)
    except (DataError, ValueError) as err:
        print(f"cl-data: error: {err}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # output piped into e.g. `head`
        sys.stdout = open(os.devnull, "w")  # noqa: SIM115
        return 0


if __name__ == "__main__":
    sys.exit(main())
