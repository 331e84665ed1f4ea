"""Kill a tiny run of each app family with SIGKILL (mid-task, at a task boundary, inside a
checkpoint write), resume it, and compare every output with an uninterrupted run bit for bit;
every JSON file written parses strictly and every file has the mode of the process umask.

Every case starts three interpreters, so the sweep is marked slow (the KIF and TAALM families
need the shared data); test_fast_resume.py is its in-process part in the default suite."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from faults import FAMILIES, differing, owner_only_files, run, strict_json_files

CASES = [(name, fault) for name, fam in FAMILIES.items() for fault in fam.faults]


def _params():
    for name, fault in CASES:
        yield pytest.param(name, fault, id=f"{name}-{fault[0].replace(' ', '_')}")


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    """One uninterrupted run per family (built on first use, shared by its faults)."""
    done: dict[str, Path] = {}

    def get(name: str) -> Path:
        if name not in done:
            out = tmp_path_factory.mktemp(name) / "full"
            proc = run(FAMILIES[name], out)
            assert proc.returncode == 0, proc.stderr[-3000:]
            done[name] = out
        return done[name]

    return get


@pytest.mark.slow
@pytest.mark.parametrize(("name", "fault"), list(_params()))
def test_kill_and_resume_is_bit_identical(name, fault, uninterrupted, tmp_path, request):
    family = FAMILIES[name]
    if family.needs_data:
        request.getfixturevalue("shared_data")
    label, step, when, status = fault
    full = uninterrupted(name)
    cut = tmp_path / "cut"
    killed = run(family, cut, kill=(step, when, status))
    assert killed.returncode == -9, killed.stderr[-3000:]
    assert not (cut / "results.json").exists()
    latest = (cut / "checkpoints" / "latest").read_text().strip()
    if status == "task_done":
        assert latest.endswith("task_done"), latest
    if when == "staged":  # killed inside the write: the previous checkpoint is still latest
        assert int(latest.split("-")[1]) < step, latest
        assert any(p.name.startswith(".tmp-") for p in (cut / "checkpoints").iterdir())
    resumed = run(family, cut, "--resume")
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert differing(full, cut) == [], label
    for folder in (full, cut):
        assert strict_json_files(folder), folder
        assert owner_only_files(folder) == [], folder
