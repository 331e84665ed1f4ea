"""Fixtures of the TAALM app tests."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from cl_data.paths import shared_data_root


@pytest.fixture(scope="session")
def taalm_data() -> Path:
    """The shared TAALM data folder; the test is skipped when it is absent."""
    root = shared_data_root() / "taalm"
    if not (root / "LAMA_ckl").is_dir():
        pytest.skip(f"shared TAALM data not found at {root} (set CL_SHARED_DATA)")
    return root


@pytest.fixture(autouse=True)
def _one_thread():
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="session")
def app():
    """apps/train_attention.py loaded as a module (apps are scripts, not an installed package)."""
    path = Path(__file__).resolve().parents[2] / "apps" / "train_attention.py"
    spec = importlib.util.spec_from_file_location("taalm_train_attention_app", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
