"""Concept-1K: parsing, the seeded split rule on a fixture, and the real file's counts."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from cl_data.classic import (
    build_concept1k,
    concept_task_sizes,
    read_concept1k_records,
    read_continual_config,
)
from cl_data.errors import DataError

REAL_COUNTS = [1699, 1694, 1643, 1633, 1698, 1618, 1667, 1688, 1670, 1644]


def record(concept: str, relation: str, q1: str, a1: str, q2: str, a2: str) -> str:
    return f"({concept}, {relation}, Target)\nQ1: {q1}\nA1: {a1}\nQ2: {q2}\nQ2: {a2}\n"


@pytest.fixture
def fixture_file(tmp_path: Path) -> Path:
    concepts = ["C0", "C1", "C2", "C3", "C4"]
    text = ""
    for i in range(12):  # concept of record i: first appearances in order C0..C4
        c = concepts[min(i, 4)] if i < 5 else concepts[i % 5]
        rel = ["IsA", "UsedFor", "PartOf"][i % 3]
        text += record(c, rel, f"q1-{i}", f"a1-{i}", f"q2-{i}", f"a2-{i}")
    path = tmp_path / "dataset.txt"
    path.write_text(text)
    return path


def test_task_sizes_rule() -> None:
    assert concept_task_sizes(1023, 10) == [105] + [102] * 9
    assert concept_task_sizes(5, 2) == [3, 2]
    assert concept_task_sizes(7, 1) == [7]


def test_split_rule_on_fixture(fixture_file: Path) -> None:
    data, config = build_concept1k(fixture_file, num_task=2, seed=1)
    order = list(range(5))
    random.seed(1)
    random.shuffle(order)
    assert config.extras["CONCEPT_LIST"] == [f"C{o}" for o in order]
    assert config.extras["RELATION_LIST"] == ["IsA", "UsedFor", "PartOf"]
    assert config.cur_num_class == [3, 2]
    assert config.extras["CONCEPT_2_TASK"] == [0, 0, 0, 1, 1]
    new_id = {orig: new for new, orig in enumerate(order)}
    seen = 0
    for t in (0, 1):
        train, test = data[t]["train"], data[t]["test"]
        assert data[t]["dev"] == test
        seen += len(train["input"])
        for j, inst in enumerate(train["instance_id"]):
            orig = min(inst, 4) if inst < 5 else inst % 5
            assert train["label_idx_cil"][j] == train["concept_id"][j] == new_id[orig]
            assert config.task_of_label(train["label_idx_cil"][j]) == t
            assert train["label_idx_til"][j] == new_id[orig] - config.pre_accum_num_class[t]
            assert train["input"][j] == f"q1-{inst}" and train["target"][j] == f"a1-{inst}"
            assert test["input"][j] == f"q2-{inst}" and test["target"][j] == f"a2-{inst}"
            assert train["relation_id"][j] == inst % 3
    assert seen == 12  # the last record is kept
    assert 11 in data[0]["train"]["instance_id"] + data[1]["train"]["instance_id"]


def test_parse_errors_name_the_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.txt"
    path.write_text(record("C", "IsA", "q", "a", "q", "a") + "(C, IsA, T)\nQ1: q\n")
    with pytest.raises(DataError, match=r"record starting at line 6 is incomplete"):
        read_concept1k_records(path)
    path.write_text(record("C", "IsA", "q", "a", "q", "a").replace("A1: ", "A2: "))
    with pytest.raises(DataError, match=r"line 3: expected a line starting with 'A1: '") as err:
        read_concept1k_records(path)
    assert str(path) in str(err.value)
    path.write_text("C, IsA, T\nQ1: q\nA1: a\nQ2: q\nQ2: a\n")
    with pytest.raises(DataError, match="line 1"):
        read_concept1k_records(path)


@pytest.fixture(scope="module")
def real(shared_data: Path):
    path = shared_data / "concept_1k" / "dataset.txt"
    if not path.is_file():
        pytest.skip(f"{path} absent")
    return build_concept1k(path), shared_data / "concept_1k" / "task10_continual_config.json"


def test_real_concept1k(real) -> None:
    (data, config), config_path = real
    assert sum(len(d["train"]["input"]) for d in data.values()) == 16654
    assert config.extras["NUM_CONCEPT"] == 1023
    assert len(config.extras["RELATION_LIST"]) == 973
    assert [len(data[t]["train"]["input"]) for t in range(10)] == REAL_COUNTS
    shared = json.loads(config_path.read_text())
    assert config.extras["CONCEPT_LIST"] == shared["CONCEPT_LIST"]
    assert config.to_dict() == shared
    assert read_continual_config(config_path).to_dict() == shared
    for t in range(10):
        til = data[t]["train"]["label_idx_til"]
        assert min(til) == 0 and max(til) == config.cur_num_class[t] - 1
    assert sorted(i for d in data.values() for i in d["train"]["instance_id"]) == list(range(16654))


def test_real_concept1k_single_task(shared_data: Path) -> None:
    path = shared_data / "concept_1k" / "dataset.txt"
    if not path.is_file():
        pytest.skip(f"{path} absent")
    data, config = build_concept1k(path, num_task=1)
    assert config.cur_num_class == [1023] and len(data[0]["train"]["input"]) == 16654
    assert data[0]["train"]["label_idx_til"] == data[0]["train"]["label_idx_cil"]
