"""Fixtures of the cl-data tests: shared-data paths, hand-written benchmark folders, tokenizers."""

from __future__ import annotations

import json
from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def benchmark_dir(shared_data: Path) -> Path:
    path = shared_data / "CL_Benchmark"
    if not path.is_dir():
        pytest.skip(f"{path} absent")
    return path


@pytest.fixture(scope="session")
def configs_dir(shared_data: Path) -> Path:
    path = shared_data / "CL_Benchmark_configs"
    if not path.is_dir():
        pytest.skip(f"{path} absent")
    return path


@pytest.fixture(scope="session")
def long_sequence_dir(shared_data: Path) -> Path:
    path = shared_data / "long_sequence_instruct"
    if not path.is_dir():
        pytest.skip(f"{path} absent")
    return path


def write_json(path: Path, data: object) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


def rows(*pairs: tuple[str, str]) -> list[dict[str, str]]:
    return [{"sentence": s, "label": label} for s, label in pairs]


class MiniBenchmark:
    """Writes small CL-benchmark folders by hand under a tmp_path."""

    def __init__(self, root: Path) -> None:
        self.root = root

    write = staticmethod(write_json)
    rows = staticmethod(rows)

    def add(
        self,
        task_type: str,
        name: str,
        labels: list[str],
        train: list[dict],
        dev: list[dict] | None = None,
        test: list[dict] | None = None,
    ) -> Path:
        folder = self.root / task_type / name
        write_json(folder / "labels.json", labels)
        write_json(folder / "train.json", train)
        write_json(folder / "dev.json", train[:1] if dev is None else dev)
        write_json(folder / "test.json", train[:1] if test is None else test)
        return folder


@pytest.fixture
def mini(tmp_path: Path) -> MiniBenchmark:
    """An empty benchmark folder with helpers; `mini.add(...)` writes one dataset."""
    return MiniBenchmark(tmp_path / "CL_Benchmark")


@pytest.fixture
def agnews_mini(mini: MiniBenchmark) -> MiniBenchmark:
    labels = ["World", "Sports", "Business", "Science or Technology"]
    train = rows(
        ("Title: a\nText: war\n", "World"),
        ("Title: b\nText: goal\n", "Sports"),
        ("Title: c\nText: stock\n", "Business"),
        ("Title: d\nText: chip\n", "Science or Technology"),
    )
    mini.add("TC", "agnews", labels, train, dev=train[:2], test=train[2:])
    return mini


@pytest.fixture(scope="session")
def t5_tokenizer():
    from transformers import ByT5Tokenizer

    return ByT5Tokenizer()


@pytest.fixture(scope="session")
def causal_tokenizer():
    from cl_data.byte_tokenizer import byte_level_tokenizer

    return byte_level_tokenizer()
