"""Fixtures for the N-LoRA tests (the tiny-LLaMA toy stream lives in llama_toy.py beside this)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent


@pytest.fixture(scope="session")
def llama_toy():
    spec = importlib.util.spec_from_file_location("nlora_llama_toy", HERE / "llama_toy.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["nlora_llama_toy"] = module
    spec.loader.exec_module(module)
    return module
