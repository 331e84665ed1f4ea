"""CLINC150: checked against counts computed here from the raw release file, plus the class-order
options and the load-time errors on tiny hand-written files."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from cl_data.classic import (
    DATASET_MAX_LENGTH,
    DATASET_PROMPT,
    build_clinc150,
    build_labelled_dataset,
    build_prompt,
    check_continual_data,
)
from cl_data.errors import DataError


@pytest.fixture(scope="module")
def raw(shared_data: Path) -> dict:
    path = shared_data / "clinc150" / "data_full.json"
    if not path.is_file():
        pytest.skip(f"CLINC150 not found at {path}")
    return json.loads(path.read_text())


def test_real_clinc150_against_the_raw_file(raw: dict) -> None:
    data, config = build_clinc150()
    check_continual_data(data, config)
    # independent reading: intents in the order the train list first shows them, oos left out
    order: list[str] = []
    for _, intent in raw["train"]:
        if intent not in order and intent != "oos":
            order.append(intent)
    assert len(order) == 150
    assert config.num_task == 15 and config.cur_num_class == [10] * 15
    assert config.extras["SOURCE_LABEL_LIST"] == order
    assert config.label_list == [i.replace("_", " ") for i in order]
    assert config.label_list[:5] == [
        "translate",
        "transfer",
        "timer",
        "definition",
        "meaning of life",
    ]
    assert config.extras["CLASS_ORDER"].startswith("file:")
    for split, key, per_intent in (
        ("train", "train", 100),
        ("dev", "val", 20),
        ("test", "test", 30),
    ):
        counts = Counter(intent for _, intent in raw[key])
        assert all(counts[i] == per_intent for i in order)  # the release's per-intent sizes
        total = 0
        for t in range(15):
            table = data[t][split]
            intents = order[10 * t : 10 * t + 10]
            expected = Counter((x, y.replace("_", " ")) for x, y in raw[key] if y in intents)
            assert Counter(zip(table["input"], table["target"])) == expected
            assert len(table["input"]) == 10 * per_intent
            assert sorted(set(table["label_idx_cil"])) == list(range(10 * t, 10 * t + 10))
            assert all(
                til == cil - 10 * t
                for cil, til in zip(table["label_idx_cil"], table["label_idx_til"])
            )
            assert all(
                config.label_list[c] == y for c, y in zip(table["label_idx_cil"], table["target"])
            )
            total += len(table["input"])
        assert total == 150 * per_intent
    assert not any("oos" in t for d in data.values() for t in d["test"]["target"])
    # the spec's generative prompt and max length for this dataset
    assert DATASET_PROMPT["clinc150"] == "default" and DATASET_MAX_LENGTH["clinc150"] == 50
    x = data[0]["train"]["input"][0]
    assert build_prompt(DATASET_PROMPT["clinc150"], x) == f"Input sentence: {x}\n The label:"


def test_real_clinc150_caps_and_registry(raw: dict) -> None:
    data, config = build_labelled_dataset("clinc150", None, train_per_class=3, test_per_class=2)
    for t in range(15):
        assert Counter(data[t]["train"]["label_idx_cil"]) == {c: 3 for c in config.cur_class[t]}
        assert Counter(data[t]["test"]["label_idx_cil"]) == {c: 2 for c in config.cur_class[t]}
        assert len(data[t]["dev"]["input"]) == 200
    again, _ = build_labelled_dataset("clinc150", None, train_per_class=3, test_per_class=2)
    assert again == data  # the seed fixes the sample
    other, _ = build_labelled_dataset("clinc150", None, seed=2, train_per_class=3)
    assert other[0]["train"] != data[0]["train"]


def write_clinc(folder: Path, splits: dict, label_dict: dict | None = None) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "data_full.json").write_text(json.dumps(splits))
    if label_dict is not None:
        (folder / "label_dict.json").write_text(json.dumps(label_dict))
    return folder


def tiny_splits(intents: list[str], n: int = 2) -> dict:
    rows = {
        key: [[f"{key} {i} {k}", i] for i in intents for k in range(n)]
        for key in ("train", "val", "test")
    }
    rows["oos_train"] = [["out of scope", "oos"]]
    rows["test"].append(["also out of scope", "oos"])
    return rows


INTENTS = ["b_two", "a_one", "d_four", "c_three"]


def test_class_orders_on_a_tiny_file(tmp_path: Path) -> None:
    folder = write_clinc(tmp_path / "c", tiny_splits(INTENTS))
    _, file_cfg = build_clinc150(folder, num_task=2)
    assert file_cfg.label_list == ["b two", "a one", "d four", "c three"]
    _, sorted_cfg = build_clinc150(folder, num_task=2, class_order="sorted")
    assert sorted_cfg.label_list == ["a one", "b two", "c three", "d four"]
    # a label_dict.json beside the data (keys with "_" or spaces) is used by "auto"
    write_clinc(folder, tiny_splits(INTENTS), {"c_three": 0, "a one": 1, "d_four": 2, "b_two": 3})
    data, cfg = build_clinc150(folder, num_task=2)
    assert cfg.label_list == ["c three", "a one", "d four", "b two"]
    assert cfg.extras["CLASS_ORDER"].startswith("label_dict:")
    assert sorted(data[0]["test"]["target"]) == ["a one", "a one", "c three", "c three"]
    assert build_clinc150(folder, num_task=2, class_order="file")[1].label_list[0] == "b two"
    with pytest.raises(ValueError, match=r"class_order must be one of"):
        build_clinc150(folder, num_task=2, class_order="random")


@pytest.mark.parametrize(
    ("label_dict", "match"),
    [
        ({"a_one": 0, "b_two": 1, "c_three": 2}, "indices must be 0..3"),
        ({"a_one": 0, "b_two": 0, "c_three": 2, "d_four": 3}, "is not a new integer"),
        ({"a_one": 0, "b_two": 1, "c_three": 2, "e_five": 3}, "not an in-scope intent"),
    ],
)
def test_bad_label_dict_names_the_file(tmp_path: Path, label_dict: dict, match: str) -> None:
    folder = write_clinc(tmp_path / "c", tiny_splits(INTENTS), label_dict)
    with pytest.raises(DataError, match=match) as err:
        build_clinc150(folder, num_task=2)
    assert "label_dict.json" in str(err.value)


def test_load_errors_name_the_file(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"data_full.json: file not found"):
        build_clinc150(tmp_path / "missing")
    empty = tiny_splits(INTENTS)
    empty["val"] = [["only oos", "oos"]]
    with pytest.raises(DataError, match=r"data_full.json: split 'val' has no in-scope rows"):
        build_clinc150(write_clinc(tmp_path / "e", empty), num_task=2)
    unknown = tiny_splits(INTENTS)
    unknown["test"].append(["new", "e_five"])
    with pytest.raises(DataError, match=r"row 9: test: intent 'e_five' does not occur in train"):
        build_clinc150(write_clinc(tmp_path / "u", unknown), num_task=2)
    bad_row = tiny_splits(INTENTS)
    bad_row["train"][3] = ["text only"]
    with pytest.raises(DataError, match=r"row 3: train: expected \[utterance, intent\]"):
        build_clinc150(write_clinc(tmp_path / "b", bad_row), num_task=2)
    gap = tiny_splits(INTENTS)  # the test split has no row of task 1's intents
    gap["test"] = [r for r in gap["test"] if r[1] in ("b_two", "a_one")]
    with pytest.raises(DataError, match=r"task 1 has no labelled rows in the test split") as err:
        build_clinc150(write_clinc(tmp_path / "g", gap), num_task=2)
    assert "data_full.json" in str(err.value) and "d four, c three" in str(err.value)
    with pytest.raises(DataError, match=r"4 classes do not split into 3 equal tasks"):
        build_clinc150(write_clinc(tmp_path / "n", tiny_splits(INTENTS)), num_task=3)
