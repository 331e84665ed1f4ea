"""BANKING77: checked against counts computed here from the raw release files (read with
csv.DictReader, not the builder's reader), plus dev = test and the load-time errors on tiny
files."""

from __future__ import annotations

import csv
import json
from collections import Counter
from pathlib import Path

import pytest

from cl_data.classic import (
    DATASET_MAX_LENGTH,
    DATASET_PROMPT,
    build_banking77,
    check_continual_data,
)
from cl_data.errors import DataError


@pytest.fixture(scope="module")
def raw(shared_data: Path) -> dict:
    folder = shared_data / "banking77"
    if not (folder / "categories.json").is_file():
        pytest.skip(f"BANKING77 not found at {folder}")
    with (folder / "train.csv").open(encoding="utf-8", newline="") as f:
        train = [(r["text"], r["category"]) for r in csv.DictReader(f)]
    with (folder / "test.csv").open(encoding="utf-8", newline="") as f:
        test = [(r["text"], r["category"]) for r in csv.DictReader(f)]
    return {
        "categories": json.loads((folder / "categories.json").read_text()),
        "train": train,
        "test": test,
    }


def test_real_banking77_against_the_raw_files(raw: dict) -> None:
    data, config = build_banking77()
    check_continual_data(data, config)
    cats = raw["categories"]
    assert len(cats) == 77 and len(raw["train"]) == 10003 and len(raw["test"]) == 3080
    assert config.num_task == 7 and config.cur_num_class == [11] * 7
    assert config.label_list == [c.replace("_", " ") for c in cats]
    assert config.label_list[:3] == ["card arrival", "card linking", "exchange rate"]
    per_task = {"train": [], "test": []}
    for t in range(7):
        task_cats = cats[11 * t : 11 * t + 11]
        for split in ("train", "test"):
            table = data[t][split]
            expected = Counter((x, y.replace("_", " ")) for x, y in raw[split] if y in task_cats)
            assert Counter(zip(table["input"], table["target"])) == expected
            per_task[split].append(len(table["input"]))
            assert sorted(set(table["label_idx_cil"])) == list(range(11 * t, 11 * t + 11))
            assert [c - 11 * t for c in table["label_idx_cil"]] == table["label_idx_til"]
        assert data[t]["dev"] == data[t]["test"]  # dev = test
    # per-task row counts of the release, computed here from its category counts
    counts = Counter(y for _, y in raw["train"])
    assert per_task["train"] == [
        sum(counts[c] for c in cats[11 * t : 11 * t + 11]) for t in range(7)
    ]
    assert per_task["train"] == [1475, 1394, 1366, 1439, 1487, 1307, 1535]
    assert per_task["test"] == [440] * 7 and sum(per_task["train"]) == 10003
    assert DATASET_PROMPT["banking77"] == "default" and DATASET_MAX_LENGTH["banking77"] == 64


def write_banking(folder: Path, cats: list[str], train: list, test: list) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "categories.json").write_text(json.dumps(cats))
    for name, rows in (("train.csv", train), ("test.csv", test)):
        with (folder / name).open("w", encoding="utf-8", newline="") as f:
            writer = csv.writer(f)
            writer.writerow(["text", "category"])
            writer.writerows(rows)
    return folder


CATS = ["top_up", "card_lost", "pin_blocked", "refund"]


def rows_for(cats: list[str], n: int) -> list[list[str]]:
    return [[f'what about "{c}", item {k}?', c] for c in cats for k in range(n)]


def test_tiny_banking_caps_and_quoted_text(tmp_path: Path) -> None:
    folder = write_banking(tmp_path / "b", CATS, rows_for(CATS, 4), rows_for(CATS, 3))
    data, config = build_banking77(folder, num_task=2, train_per_class=2)
    assert config.label_list == ["top up", "card lost", "pin blocked", "refund"]
    assert Counter(data[1]["train"]["target"]) == {"pin blocked": 2, "refund": 2}
    assert len(data[1]["test"]["input"]) == 6 and data[1]["dev"] == data[1]["test"]
    assert 'what about "refund", item 2?' in data[1]["test"]["input"]


def test_load_errors_name_the_file(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"categories.json: file not found"):
        build_banking77(tmp_path / "missing", num_task=2)
    folder = write_banking(tmp_path / "b", CATS, rows_for(CATS, 2), [])
    with pytest.raises(DataError, match=r"test.csv: the test split has no labelled rows"):
        build_banking77(folder, num_task=2)
    folder = write_banking(tmp_path / "u", CATS, [*rows_for(CATS, 2), ["hi", "other"]], [])
    with pytest.raises(DataError, match=r"train.csv, row 8: category 'other' is not in"):
        build_banking77(folder, num_task=2)
    folder = write_banking(tmp_path / "g", CATS, rows_for(CATS, 2), rows_for(CATS[:2], 2))
    with pytest.raises(DataError, match=r"test.csv: task 1 has no labelled rows in the test split"):
        build_banking77(folder, num_task=2)
    (folder / "train.csv").write_text("sentence,label\nhi,top_up\n")
    with pytest.raises(DataError, match=r"train.csv: expected the header text,category"):
        build_banking77(folder, num_task=2)
    (folder / "train.csv").write_text("text,category\nhi,top_up,extra\n")
    with pytest.raises(DataError, match=r"train.csv, row 0: expected 2 fields"):
        build_banking77(folder, num_task=2)
