"""Shared fixtures of the cl-data CKL tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from cl_data.ckl import build_smoke_tokenizer
from cl_data.paths import shared_data_root

FIXTURES = Path(__file__).parent / "fixtures"

CORPUS = [
    "Santiago is the capital of Chile . Santiago lies in the central valley of Chile .",
    "Guess the object. \n  subject is Santiago , relation is capital of , object is Chile",
    "Libya maintains diplomatic relations with Brazil , Chile , Cuba and North Korea .",
    "The river flows into the Black Sea after passing through Vienna and Budapest .",
    "Grace Hopper was born in New York City . Ada Lovelace was born in London .",
]


@pytest.fixture(scope="session")
def tokenizer():
    """A small Llama-like BPE tokenizer ("▁" marks a preceding space, <s> prepended)."""
    return build_smoke_tokenizer(CORPUS * 3, vocab_size=200)


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
    if not (root / "LAMA_ckl").is_dir():
        pytest.skip(f"shared TAALM data not found at {root} (set CL_SHARED_DATA)")
    return root


@pytest.fixture()
def lama_fixture() -> Path:
    return FIXTURES / "lama"
