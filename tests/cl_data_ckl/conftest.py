"""Shared fixtures of the cl-data CKL tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from cl_data.ckl import build_smoke_tokenizer

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


@pytest.fixture()
def lama_fixture() -> Path:
    return FIXTURES / "lama"
