"""Fixtures of the Recurrent-KIF tests: a tiny LoRA-ready model and hand-made tasks."""

from __future__ import annotations

from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent


@pytest.fixture(scope="session")
def tiny(module_file):
    return module_file(HERE / "tiny.py", "kif_tiny")
