"""Fixtures of the Recurrent-KIF tests: a tiny LoRA-ready model and hand-made tasks."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent


@pytest.fixture(scope="session")
def tiny():
    spec = importlib.util.spec_from_file_location("kif_tiny", HERE / "tiny.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["kif_tiny"] = module
    spec.loader.exec_module(module)
    return module
