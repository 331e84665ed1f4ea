"""Fixtures for the N-LoRA tests (the tiny-LLaMA toy stream lives in llama_toy.py beside this)."""

from __future__ import annotations

from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent


@pytest.fixture(scope="session")
def llama_toy(module_file):
    return module_file(HERE / "llama_toy.py", "nlora_llama_toy")
