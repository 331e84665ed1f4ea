"""The default suite's part of the fault-injection sweep: run_cl (the fastest family) stopped in
process at a task boundary and inside a checkpoint write, resumed, and compared with an
uninterrupted run bit for bit; the SIGKILL sweep over every family is test_fault_injection.py
(slow)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from faults import FAMILIES, differing, owner_only_files, strict_json_files

ARGS = list(FAMILIES["run_cl"].args)
FAULTS = [f for f in FAMILIES["run_cl"].faults if f[0] != "mid-task"]


def _main(*argv: str) -> int:
    from run_cl import main

    return main([*ARGS, *argv])


@pytest.fixture(scope="module")
def full(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("run_cl") / "full"
    assert _main("--output-dir", str(out)) == 0
    return out


def _params():
    for fault in FAULTS:  # the default suite keeps the task boundary (the other one: slow)
        marks = [] if fault[0] == "task boundary" else [pytest.mark.slow]
        yield pytest.param(fault, marks=marks, id=fault[0].replace(" ", "_"))


@pytest.mark.parametrize("fault", list(_params()))
def test_run_cl_stopped_and_resumed_is_bit_identical(full, fault, tmp_path, faults, monkeypatch):
    _, step, when, status = fault
    cut = tmp_path / "cut"
    faults.inject(monkeypatch, faults.StopAfterCheckpoint(step, when=when, status=status))
    with pytest.raises(faults.Interrupted):
        _main("--output-dir", str(cut))
    monkeypatch.undo()
    assert not (cut / "results.json").exists()
    assert _main("--output-dir", str(cut)) == 2  # the folder holds a run: not without --resume
    assert _main("--output-dir", str(cut), "--resume") == 0
    assert differing(full, cut) == []
    for folder in (full, cut):
        assert len(strict_json_files(folder)) >= 5
        assert owner_only_files(folder) == []
