"""Helpers of the Recurrent-KIF app tests: run the app as a script, or import its modules."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
APPS = ROOT / "apps"
if str(APPS) not in sys.path:
    sys.path.insert(0, str(APPS))
TESTS = ROOT / "tests"
if str(TESTS) not in sys.path:
    sys.path.insert(0, str(TESTS))
from quick_args import QUICK_KIF  # noqa: E402


@pytest.fixture
def quick_args() -> list[str]:
    return list(QUICK_KIF)


@pytest.fixture(scope="session")
def kif(module_file):
    """apps/reproduce_kif.py loaded as a module."""
    return module_file(APPS / "reproduce_kif.py", "kif_reproduce_app", register=False)


@pytest.fixture(scope="module")
def smoke_run(tmp_path_factory, shared_data, app_script):
    """One uninterrupted quick smoke run as a script, shared by the module's tests."""
    out = tmp_path_factory.mktemp("kif") / "full"
    proc = app_script(
        "reproduce_kif.py",
        *QUICK_KIF,
        "--checkpoint-every",
        "4",
        "--output-dir",
        str(out),
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return out, proc
