"""continual_data.json / continual_config.json: round trip, validation errors, label indexing."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cl_data.classic import (
    ContinualConfig,
    label_idx_cil,
    label_idx_til,
    read_continual_config,
    read_continual_data,
    read_continual_dataset,
    rows_to_table,
    split_rows,
    write_continual_dataset,
)
from cl_data.errors import DataError


def small() -> tuple[dict, ContinualConfig]:
    config = ContinualConfig.from_class_counts([2, 3], ["a", "b", "c", "d", "e"])
    data = {
        0: {
            "train": {
                "input": ["x0", "x1"],
                "target": ["a", "b"],
                "label_idx_cil": [0, 1],
                "label_idx_til": [0, 1],
            }
        },
        1: {
            "train": {
                "input": ["x2", "x3"],
                "target": ["c", "e"],
                "label_idx_cil": [2, 4],
                "label_idx_til": [0, 2],
            },
            "test": {"input": ["x4"], "target": ["d"], "label_idx_cil": [3], "label_idx_til": [1]},
        },
    }
    return data, config


def test_config_layout_and_round_trip(tmp_path: Path) -> None:
    data, config = small()
    assert config.cur_num_class == [2, 3]
    assert config.accum_num_class == [2, 5]
    assert config.pre_accum_num_class == [0, 2]
    assert config.num_class == 5
    raw = config.to_dict()
    assert raw["CUR_CLASS"] == [[0, 1], [2, 3, 4]]
    assert raw["label2idx"] == {"a": 0, "b": 1, "c": 2, "d": 3, "e": 4}
    write_continual_dataset(data, config, tmp_path)
    data2, config2 = read_continual_dataset(tmp_path)
    assert data2 == data and config2.to_dict() == raw
    assert sorted(json.loads((tmp_path / "continual_data.json").read_text())) == ["0", "1"]


def test_label_indexing() -> None:
    _, config = small()
    assert [label_idx_til(c, 1, config) for c in (2, 3, 4)] == [0, 1, 2]
    assert [label_idx_cil(t, 1, config) for t in (0, 1, 2)] == [2, 3, 4]
    assert config.task_of_label(1) == 0 and config.task_of_label(4) == 1
    with pytest.raises(ValueError, match="not a class of task 1"):
        label_idx_til(1, 1, config)
    with pytest.raises(ValueError, match="outside"):
        label_idx_cil(2, 0, config)


def test_cit_config_has_only_num_task(tmp_path: Path) -> None:
    path = tmp_path / "c.json"
    path.write_text(json.dumps({"NUM_TASK": 8}))
    config = read_continual_config(path)
    assert not config.has_classes and config.to_dict()["NUM_TASK"] == 8
    with pytest.raises(ValueError, match="no classes"):
        _ = config.cur_num_class


@pytest.mark.parametrize(
    "edit, message",
    [
        (lambda r: r.update(NUM_TASK=0), "NUM_TASK"),
        (lambda r: r.update(ACCUM_NUM_CLASS=[2, 4]), "ACCUM_NUM_CLASS"),
        (lambda r: r.update(CUR_CLASS=[[0, 2], [1, 3, 4]]), "contiguous"),
        (lambda r: r.pop("LABEL_LIST"), "missing"),
        (lambda r: r.update(CLASSNAME_LIST=["a"]), "CLASSNAME_LIST"),
    ],
)
def test_bad_config_names_file_and_key(tmp_path: Path, edit, message) -> None:
    raw = small()[1].to_dict()
    edit(raw)
    path = tmp_path / "continual_config.json"
    path.write_text(json.dumps(raw))
    with pytest.raises(DataError, match=message) as err:
        read_continual_config(path)
    assert str(path) in str(err.value)


@pytest.mark.parametrize(
    "task, split, col, row, value, message",
    [
        ("1", "train", "label_idx_cil", 1, 1, r"row 1: task 1 train: label_idx_cil 1 outside"),
        ("1", "train", "label_idx_til", 0, 1, r"row 0: task 1 train: label_idx_til 1 !="),
        ("0", "train", "target", 1, 3, r"row 1: task 0 train: target must be a string"),
        ("0", "train", "input", 0, 7, r"row 0: task 0 train: input must be"),
    ],
)
def test_bad_data_names_file_and_row(tmp_path, task, split, col, row, value, message) -> None:
    data, config = small()
    write_continual_dataset(data, config, tmp_path)
    path = tmp_path / "continual_data.json"
    raw = json.loads(path.read_text())
    raw[task][split][col][row] = value
    path.write_text(json.dumps(raw))
    with pytest.raises(DataError, match=message) as err:
        read_continual_data(path, config)
    assert str(path) in str(err.value)


def test_bad_data_shapes(tmp_path: Path) -> None:
    path = tmp_path / "d.json"
    for raw, message in [
        ({"0": {"train": {"input": ["a", "b"], "target": ["a"]}}}, "differ in length"),
        ({"0": {"train": {"input": ["a"]}}}, "'target' missing"),
        ({"zero": {}}, "not an integer"),
        ({"0": {"valid": {}}}, "unknown splits"),
    ]:
        path.write_text(json.dumps(raw))
        with pytest.raises(DataError, match=message):
            read_continual_data(path)


def test_rows_and_tables() -> None:
    table = small()[0][1]["train"]
    rows = split_rows(table)
    assert rows[1] == {"input": "x3", "target": "e", "label_idx_cil": 4, "label_idx_til": 2}
    assert rows_to_table(rows) == table
