"""Fixtures of the TAALM app tests."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest


@pytest.fixture(autouse=True)
def _one_thread():
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


APPS = Path(__file__).resolve().parents[2] / "apps"


def _load(module_file, name: str, module_name: str):
    if str(APPS) not in sys.path:  # the apps import their recipe package (apps/taalm_app)
        sys.path.insert(0, str(APPS))
    return module_file(APPS / name, module_name, register=False)


@pytest.fixture(scope="session")
def app(module_file):
    """apps/train_attention.py loaded as a module (apps are scripts, not an installed package)."""
    return _load(module_file, "train_attention.py", "taalm_train_attention_app")


@pytest.fixture(scope="session")
def reproduce(module_file):
    """apps/reproduce_taalm.py loaded as a module."""
    return _load(module_file, "reproduce_taalm.py", "taalm_reproduce_app")


@pytest.fixture(scope="session")
def apps_dir() -> Path:
    return APPS
