"""Shared test fixtures: the location of the shared benchmark data."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

# Without a GPU the Triton kernels run on CPU tensors through Triton's interpreter, which
# `triton.jit` picks when a kernel is defined: set it here, before any test module imports a
# `cl_kernels.triton` module (the root conftest is loaded before every test folder is collected).
if not torch.cuda.is_available():
    os.environ.setdefault("TRITON_INTERPRET", "1")

ROOT = Path(__file__).resolve().parents[1]


def shared_data_dir() -> Path:
    """`$CL_SHARED_DATA`, defaulting to `../shared/data` beside the project root."""
    return Path(os.environ.get("CL_SHARED_DATA", ROOT.parent / "shared" / "data"))


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The shared benchmark data folder; skips the test (with the reason) when it is absent."""
    path = shared_data_dir()
    if not path.is_dir():
        pytest.skip(f"shared benchmark data not found at {path} (set CL_SHARED_DATA to its folder)")
    return path


@pytest.fixture(scope="session")
def taalm_data(shared_data: Path) -> Path:
    """The shared TAALM data folder (LAMA-ckl and TemporalWiki); skips when it is absent."""
    root = shared_data / "taalm"
    if not (root / "LAMA_ckl").is_dir() or not (root / "TemporalWiki" / "eval").is_dir():
        pytest.skip(f"shared TAALM data not found at {root} (set CL_SHARED_DATA)")
    return root
