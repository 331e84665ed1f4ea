"""Fixtures for cl-methods tests (the toy stream lives in toy.py beside this file)."""

from __future__ import annotations

from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent


@pytest.fixture(scope="session")
def toy(module_file):
    return module_file(HERE / "toy.py", "cl_methods_toy")


@pytest.fixture
def toy_script() -> Path:
    return HERE / "toy.py"
