"""A diverging run stops with one line and exit code 3; skipped steps are counted per task."""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from faults import TINY_RUN_CL, strict_json_files

TINY = [*TINY_RUN_CL, "--trainer.epochs", "3"]


def test_run_cl_with_a_huge_learning_rate_stops_with_one_line(tmp_path, capsys):
    from run_cl import main

    out = tmp_path / "run"
    assert main([*TINY, "--trainer.lr", "1e6", "--output-dir", str(out)]) == 3
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("error: training diverged: 5 optimizer steps in a row had a non-")
    assert not (out / "results.json").exists()  # never reported as a normal result
    assert len(strict_json_files(out)) >= 2  # the checkpoints' state and config files


def test_every_json_writer_is_strict(tmp_path):
    """NaN and infinities become null plus a flag in the writers of cl-methods and cl-data."""
    from cl_data import jsonio
    from cl_methods import jsonsafe
    from cl_methods.trainer.checkpoint import write_json_atomic
    from cl_methods.trainer.outputs import JsonlTracker

    value = {"loss": float("nan"), "rows": [1.0, float("-inf")]}
    expected = {"loss": None, "rows": [1.0, None], "nonfinite": ["loss", "rows[1]"]}
    assert json.loads(jsonsafe.dumps(value)) == expected
    assert json.loads(jsonio.dumps(value)) == expected
    write_json_atomic(tmp_path / "state.json", value)
    JsonlTracker(tmp_path).log({"train/loss": float("inf")}, step=3)
    assert strict_json_files(tmp_path) == [tmp_path / "state.json", tmp_path / "train_log.jsonl"]
    line = json.loads((tmp_path / "train_log.jsonl").read_text())
    assert line == {"step": 3, "train/loss": None, "nonfinite": ["train/loss"]}
