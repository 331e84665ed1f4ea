"""FewRel and TACRED readers on tiny hand-written files in both documented layouts (the JSON
layout and the classic codebase's pickle), the TACRED names, the entity prompts and the errors."""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import pytest

from cl_data.classic import (
    build_fewrel,
    build_labelled_dataset,
    build_prompt,
    build_tacred,
    check_continual_data,
    entities_from_markers,
    tacred_semantic_label,
)
from cl_data.errors import DataError

FEWREL = ["place of birth", "located in", "spouse", "member of"]
TACRED = [
    "per:title",
    "org:founded_by",
    "per:cities_of_residence",
    "org:stateorprovince_of_headquarters",
]


def row(label: str, k: int, split: str) -> dict:
    return {
        "text": f"[E11] Head{k} [E12] {split} relates to [E21] Tail{k} [E22] as {label} .",
        "semantic_label": label,
        "tokens": ["ignored"],
    }


def classes(labels: list[str], n: int, split: str) -> list[list[dict]]:
    return [[row(label, k, split) for k in range(n)] for label in labels]


def write_json(folder: Path, labels: list[str], sizes: dict[str, int]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for split, n in sizes.items():
        (folder / f"{split}.json").write_text(json.dumps(classes(labels, n, split)))
    return folder


def test_fewrel_json_layout(tmp_path: Path) -> None:
    folder = write_json(tmp_path / "fewrel", FEWREL, {"train": 3, "dev": 2, "test": 1})
    data, config = build_fewrel(folder, num_task=2)
    check_continual_data(data, config)
    assert config.label_list == FEWREL and config.cur_class == [[0, 1], [2, 3]]
    for t in range(2):
        for split, n in (("train", 3), ("dev", 2), ("test", 1)):
            table = data[t][split]
            assert len(table["input"]) == 2 * n
            assert all(split in x for x in table["input"])  # dev comes from dev.json
            assert sorted(set(table["label_idx_til"])) == [0, 1]
    assert sorted(data[1]["test"]["target"]) == ["member of", "spouse"]
    capped, _ = build_labelled_dataset("fewrel", folder, num_task=2, train_per_class=1)
    assert len(capped[0]["train"]["input"]) == 2


def test_tacred_pickle_names_and_dev_equals_test(tmp_path: Path) -> None:
    folder = tmp_path / "tacred"
    folder.mkdir()
    triple = (classes(TACRED, 2, "train"), classes(TACRED, 9, "dev"), classes(TACRED, 1, "test"))
    with (folder / "TACRED-2021.pkl").open("wb") as f:
        pickle.dump(triple, f)
    data, config = build_tacred(folder, num_task=2)
    assert config.label_list == [
        "person related: title",
        "organization related: founded by",
        "person related: city of residence",
        "organization related: state or province of headquarters",
    ]
    assert config.extras["CLASS_ORDER"] == "file: class lists of TACRED-2021.pkl"
    for t in range(2):
        assert data[t]["dev"] == data[t]["test"]  # the pickle's dev entry is not read
        assert len(data[t]["train"]["input"]) == 4 and len(data[t]["test"]["input"]) == 2
    # JSON files win over a pickle in the same folder; spelt-out labels are kept as they are
    write_json(folder, [tacred_semantic_label(x) for x in TACRED], {"train": 1, "test": 1})
    assert build_tacred(folder, num_task=4)[1].label_list == config.label_list


def test_tacred_label_expansion() -> None:
    assert tacred_semantic_label("per:title") == "person related: title"
    assert tacred_semantic_label("per:stateorprovinces_of_residence") == (
        "person related: state or provinces of residence"
    )
    assert tacred_semantic_label("per:countries_of_residence") == (
        "person related: countries of residence"
    )
    assert tacred_semantic_label("org:top_members/employees") == (
        "organization related: top members/employees"
    )
    assert tacred_semantic_label("no_relation") == "no_relation"
    assert tacred_semantic_label("person related: title") == "person related: title"


def test_relation_prompts_read_the_markers() -> None:
    text = row("spouse", 7, "train")["text"]
    assert entities_from_markers(text) == ("Head7", "Tail7")
    assert build_prompt("relation_classification_state", text) == (
        "Input sentence: Head7 train relates to Tail7 as spouse .\n"
        " The relationship between Head7 and Tail7 is"
    )
    assert build_prompt("relation_classification_qa", text).endswith(
        "Question: What is the relationship between Head7 and Tail7?\n Answer:"
    )


def test_relation_errors_name_the_file(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"preprocessed files are not in the shared data"):
        build_fewrel(None)
    with pytest.raises(DataError, match=r"fewrel data folder not found"):
        build_fewrel(tmp_path / "nowhere")
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(DataError, match=r"empty/train.json: file not found"):
        build_fewrel(empty)
    folder = write_json(tmp_path / "f", FEWREL, {"train": 2, "dev": 1, "test": 1})
    (folder / "test.json").write_text(json.dumps(classes(FEWREL[:3], 1, "test")))
    with pytest.raises(DataError, match=r"test.json: test: 3 classes, but train has 4"):
        build_fewrel(folder, num_task=2)
    mixed = classes(FEWREL, 1, "test")
    mixed[2][0]["semantic_label"] = "located in"
    (folder / "test.json").write_text(json.dumps(mixed))
    with pytest.raises(DataError, match=r"test class 2 row 0: relation 'located in', but class 2"):
        build_fewrel(folder, num_task=2)
    gap = classes(FEWREL, 1, "test")
    gap[2], gap[3] = [], []
    (folder / "test.json").write_text(json.dumps(gap))
    with pytest.raises(DataError, match=r"test.json: task 1 has no labelled rows in the test"):
        build_fewrel(folder, num_task=2)
    unmarked = classes(FEWREL, 1, "test")
    unmarked[1][0]["text"] = "no markers here"
    (folder / "test.json").write_text(json.dumps(unmarked))
    with pytest.raises(DataError, match=r"test class 1 row 0: no \[E11\] head"):
        build_fewrel(folder, num_task=2)
    train = classes(FEWREL, 1, "train")
    train[0] = []
    (folder / "train.json").write_text(json.dumps(train))
    with pytest.raises(DataError, match=r"train.json: train: class 0 has no rows"):
        build_fewrel(folder, num_task=2)
    (folder / "train.json").write_text(json.dumps({"not": "a list"}))
    with pytest.raises(DataError, match=r"train.json: expected a JSON list"):
        build_fewrel(folder, num_task=2)
    bad = tmp_path / "bad_pickle"
    bad.mkdir()
    (bad / "FewRel-2021.pkl").write_bytes(pickle.dumps(("only", "two")))
    with pytest.raises(DataError, match=r"FewRel-2021.pkl: expected a \(train, dev, test\) triple"):
        build_fewrel(bad)
