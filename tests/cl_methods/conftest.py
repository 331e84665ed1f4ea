"""Fixtures for cl-methods tests (the toy stream lives in toy.py beside this file)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent


def _load_toy():
    spec = importlib.util.spec_from_file_location("cl_methods_toy", HERE / "toy.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["cl_methods_toy"] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def toy():
    return _load_toy()


@pytest.fixture
def toy_script() -> Path:
    return HERE / "toy.py"
