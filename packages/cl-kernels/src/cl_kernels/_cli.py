"""``python -m cl_kernels``: the availability table, or with ``--check`` the self-check of every op
on every backend available here (exit status 1 on any mismatch or error)."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path

import torch

from . import _dispatch
from ._dispatch import BACKENDS, format_info
from ._selfcheck import check, format_table

DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m cl_kernels",
        description="Which backend serves each op here; with --check, every op on every "
        "available backend against the PyTorch reference (small probes, forward and backward, "
        "each dtype). On the CPU the Triton backend runs only with TRITON_INTERPRET=1.",
    )
    parser.add_argument("--check", action="store_true", help="run the self-check and print a table")
    parser.add_argument("--op", action="append", help="only this op (repeatable)")
    parser.add_argument("--backend", action="append", choices=BACKENDS, help="repeatable")
    parser.add_argument("--dtype", action="append", choices=sorted(DTYPES), help="repeatable")
    parser.add_argument(
        "--device", help="device for the reference and Triton (default: cuda if present, else cpu)"
    )
    parser.add_argument("--json", type=Path, help="also write the check's rows to this JSON file")
    return parser


def _environment() -> dict:
    env = {
        "torch": torch.__version__,
        "cuda": torch.version.cuda,
        "device_name": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
        "triton_interpret": os.environ.get("TRITON_INTERPRET"),
    }
    ok, reason = _dispatch.triton_importable()
    if ok:
        import triton

        env["triton"] = triton.__version__
    else:
        env["triton"] = reason
    return env


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if not args.check:
        print(format_info())
        return 0
    try:
        device = torch.device(args.device) if args.device else None
        dtypes = [DTYPES[d] for d in args.dtype] if args.dtype else None
        rows = check(args.op, args.backend, dtypes, device)
    except (ValueError, RuntimeError) as exc:
        print(f"python -m cl_kernels --check: {exc}", file=sys.stderr)
        return 2
    env = _environment()
    print(
        f"cl_kernels self-check: torch {env['torch']}, triton {env['triton']}, "
        f"cuda device {env['device_name']}, TRITON_INTERPRET={env['triton_interpret']}"
    )
    print(format_table(rows))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        record = {"environment": env, "rows": [asdict(r) for r in rows]}
        args.json.write_text(json.dumps(record, indent=2) + "\n")
    return 1 if any(r.failed for r in rows) else 0
