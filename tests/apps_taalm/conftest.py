"""Fixtures of the TAALM app tests."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

from cl_data.paths import shared_data_root


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The shared data folder ($CL_SHARED_DATA); skips when it is absent. (Same contract as the
    project-wide ``shared_data`` fixture; defined here so this folder runs on its own.)"""
    root = shared_data_root()
    if not root.is_dir():
        pytest.skip(f"shared data not found at {root} (set CL_SHARED_DATA)")
    return root


@pytest.fixture(scope="session")
def taalm_data(shared_data: Path) -> Path:
    """The shared TAALM data folder; the test is skipped when it is absent."""
    root = shared_data / "taalm"
    if not (root / "LAMA_ckl").is_dir() or not (root / "TemporalWiki" / "eval").is_dir():
        pytest.skip(f"shared TAALM data not found at {root} (set CL_SHARED_DATA)")
    return root


@pytest.fixture(autouse=True)
def _one_thread():
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


APPS = Path(__file__).resolve().parents[2] / "apps"


def _load(name: str, module_name: str):
    if str(APPS) not in sys.path:  # the apps import their recipe package (apps/taalm_app)
        sys.path.insert(0, str(APPS))
    spec = importlib.util.spec_from_file_location(module_name, APPS / name)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def app():
    """apps/train_attention.py loaded as a module (apps are scripts, not an installed package)."""
    return _load("train_attention.py", "taalm_train_attention_app")


@pytest.fixture(scope="session")
def reproduce():
    """apps/reproduce_taalm.py loaded as a module."""
    return _load("reproduce_taalm.py", "taalm_reproduce_app")


@pytest.fixture(scope="session")
def apps_dir() -> Path:
    return APPS
