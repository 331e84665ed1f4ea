"""The efficacy study's package (apps/efficacy_app) importable, and hand-made run results."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

APPS = Path(__file__).resolve().parents[2] / "apps"
if str(APPS) not in sys.path:
    sys.path.insert(0, str(APPS))


@pytest.fixture
def write_run():
    """``write_run(study, run, rows, runtime)``: a finished run as the driver leaves it."""
    from common import config
    from run_cl import load_config

    from cl_eval.matrix import AccuracyMatrix
    from cl_eval.results import make_results, write_results

    def write(study: Path, run, rows, runtime: float = 10.0) -> Path:
        folder = study / run.rel_dir
        folder.mkdir(parents=True, exist_ok=True)
        matrix = AccuracyMatrix.from_rows(rows, [f"task{j}" for j in range(len(rows[0]))])
        res = make_results(
            matrix,
            config={"seed": run.seed, "method": run.method.key, "scenario": run.scenario},
            hardware={"device": "cpu", "cpu_count": 2, "torch_threads": 1, "runtime_s": runtime},
            forgetting_variant="classic",
            detect_hardware=False,
        )
        write_results(res, folder / "results.json")
        (folder / "plan.json").write_text(json.dumps(run.plan_record()))
        # the configuration run_cl.py saves: the run's template as it is now, plus its flags
        config.save(load_config(run.argv(folder / "run")), folder)
        return folder

    return write
