"""The CL-benchmark loader on hand-written folders, including every kind of bad input."""

from __future__ import annotations

import warnings

import pytest

from cl_data import DataError, DataWarning, canonical_dataset, load_stream, load_task

NLI_LABELS = ["neutral", "entailment", "contradiction"]


def test_loads_task_record(agnews_mini) -> None:
    task = load_task("agnews", agnews_mini.root)
    assert (task.name, task.task_type, task.format) == ("agnews", "TC", "benchmark")
    assert task.labels == ("World", "Sports", "Business", "Science or Technology")
    assert [len(task.train), len(task.dev), len(task.test)] == [4, 2, 2]
    assert task.train[1].sentence == "Title: b\nText: goal\n"
    assert task.train[1].label == "Sports"
    assert task.train[1].id == "agnews-train-1"
    assert task.test[0].id == "agnews-test-0"
    assert task.files["dev"] == str(agnews_mini.root / "TC" / "agnews" / "dev.json")
    assert task.label_counts("test") == {
        "World": 0,
        "Sports": 0,
        "Business": 1,
        "Science or Technology": 1,
    }


def test_split_as_datasets_dataset(agnews_mini) -> None:
    task = load_task("agnews", agnews_mini.root)
    ds = task.to_hf_dataset("train")
    assert ds.num_rows == 4
    assert ds.column_names == ["id", "sentence", "label", "instruction", "source", "target"]
    assert ds[2]["label"] == ds[2]["target"] == "Business"
    assert ds[2]["source"] == task.source(task.train[2])
    with pytest.raises(ValueError, match="unknown split 'val'"):
        task.to_hf_dataset("val")


def test_names_match_case_insensitively(agnews_mini) -> None:
    assert load_task("AGNews", agnews_mini.root).name == "agnews"
    assert canonical_dataset("sst-2") == "SST-2"
    assert canonical_dataset("mnli") == "MNLI"


def test_stream_from_a_list_of_names(agnews_mini) -> None:
    agnews_mini.add("COPA", "COPA", ["A", "B"], agnews_mini.rows(("q\nA: x\nB: y", "B")))
    stream = load_stream(["COPA", "agnews"], agnews_mini.root)
    assert stream.names == ("COPA", "agnews")
    assert stream.order is None
    assert [t.name for t in stream] == ["COPA", "agnews"]
    assert stream["agnews"].task_type == "TC"
    with pytest.raises(KeyError, match="no task named 'yelp'"):
        stream["yelp"]


def test_missing_benchmark_dir(tmp_path) -> None:
    missing = tmp_path / "nowhere"
    with pytest.raises(DataError, match="benchmark directory not found") as info:
        load_task("agnews", missing)
    assert info.value.path == str(missing)


def test_missing_dataset_folder(agnews_mini) -> None:
    with pytest.raises(DataError, match="dataset folder of 'yelp' not found") as info:
        load_task("yelp", agnews_mini.root)
    assert info.value.path == str(agnews_mini.root / "SC" / "yelp")


@pytest.mark.parametrize("name", ["labels.json", "train.json", "dev.json", "test.json"])
def test_missing_file(agnews_mini, name: str) -> None:
    path = agnews_mini.root / "TC" / "agnews" / name
    path.unlink()
    with pytest.raises(DataError, match="file not found") as info:
        load_task("agnews", agnews_mini.root)
    assert info.value.path == str(path)
    assert str(path) in str(info.value)


def test_invalid_json(agnews_mini) -> None:
    path = agnews_mini.root / "TC" / "agnews" / "test.json"
    path.write_text('[{"sentence": "a", "label": "World"},\n  {"sentence": }]')
    with pytest.raises(DataError, match=r"invalid JSON at line 2, column 16") as info:
        load_task("agnews", agnews_mini.root)
    assert info.value.path == str(path)


def test_data_file_not_a_list(agnews_mini) -> None:
    path = agnews_mini.write(agnews_mini.root / "TC" / "agnews" / "train.json", {"sentence": "a"})
    with pytest.raises(DataError, match="expected a JSON list, found a JSON dict") as info:
        load_task("agnews", agnews_mini.root)
    assert info.value.path == str(path)


@pytest.mark.parametrize(
    ("row", "message"),
    [
        ({"label": "World"}, "row has no 'sentence' field"),
        ({"sentence": "a"}, "row has no 'label' field"),
        ({"sentence": "a", "label": 3}, "'label' must be a string, found int"),
        ({"sentence": None, "label": "World"}, "'sentence' must be a string, found NoneType"),
        (["a", "World"], "expected a JSON object, found list"),
    ],
)
def test_bad_row_names_path_and_row(agnews_mini, row, message: str) -> None:
    path = agnews_mini.root / "TC" / "agnews" / "dev.json"
    agnews_mini.write(path, [*agnews_mini.rows(("ok", "World"), ("ok", "Sports")), row])
    with pytest.raises(DataError, match=message) as info:
        load_task("agnews", agnews_mini.root)
    assert (info.value.path, info.value.row) == (str(path), 2)
    assert f"{path}, row 2: " in str(info.value)


def test_training_label_outside_labels_json(agnews_mini) -> None:
    path = agnews_mini.root / "TC" / "agnews" / "train.json"
    agnews_mini.write(path, agnews_mini.rows(("a", "World"), ("b", "Politics")))
    with pytest.raises(DataError, match=r"training label 'Politics' is not in labels.json") as info:
        load_task("agnews", agnews_mini.root)
    assert (info.value.path, info.value.row) == (str(path), 1)


@pytest.mark.parametrize(
    ("labels", "message", "row"),
    [
        ([], "labels.json is empty", None),
        (["World", "World"], "duplicate label 'World'", 1),
        (["World", 7], "a label must be a non-empty string, found 7", 1),
        (["", "World"], "a label must be a non-empty string", 0),
        ("World", "expected a JSON list", None),
    ],
)
def test_bad_labels_json(agnews_mini, labels, message: str, row) -> None:
    path = agnews_mini.write(agnews_mini.root / "TC" / "agnews" / "labels.json", labels)
    with pytest.raises(DataError, match=message) as info:
        load_task("agnews", agnews_mini.root)
    assert (info.value.path, info.value.row) == (str(path), row)


def test_unknown_dataset(agnews_mini) -> None:
    with pytest.raises(DataError, match="unknown dataset 'agnew'; known datasets: amazon, yelp"):
        load_task("agnew", agnews_mini.root)


def test_unknown_order(agnews_mini) -> None:
    for order in (0, 7, "1", True):
        with pytest.raises(DataError):
            load_stream(order, agnews_mini.root)  # type: ignore[arg-type]
    with pytest.raises(DataError, match=r"unknown order 9; expected one of 1, 2, 3, 4, 5, 6"):
        load_stream(9, agnews_mini.root)


def test_unknown_task_type(agnews_mini) -> None:
    with pytest.raises(DataError, match="unknown task type 'Topic'"):
        load_task("news", agnews_mini.root, task_type="Topic")


def test_wrong_task_type_of_known_dataset(agnews_mini) -> None:
    with pytest.raises(DataError, match="'agnews' has task type 'TC', not 'SC'"):
        load_task("agnews", agnews_mini.root, task_type="SC")


def test_custom_dataset_with_task_type(mini) -> None:
    mini.add("SC", "tweets", ["Good", "Bad"], mini.rows(("great", "Good"), ("meh", "Bad")))
    task = load_task("tweets", mini.root, task_type="SC")
    assert (task.name, task.task_type, task.labels) == ("tweets", "SC", ("Good", "Bad"))
    assert task.source(task.train[0]).startswith("Task:SC\nDataset:tweets\nWhat is the sentiment")


def _mnli(mini):
    train = mini.rows(("s1", "neutral"), ("s2", "entailment"), ("s3", "contradiction"))
    test = mini.rows(("t0", "neutral"), ("t1", "-"), ("t2", "entailment"), ("t3", "-"))
    mini.add("NLI", "MNLI", NLI_LABELS, train, dev=test, test=test)


def test_unlabelled_rows_kept_with_one_warning(mini) -> None:
    _mnli(mini)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        task = load_task("MNLI", mini.root)
    relevant = [w for w in caught if issubclass(w.category, DataWarning)]
    assert len(relevant) == 1
    message = str(relevant[0].message)
    assert "dev: 2 x '-'" in message and "test: 2 x '-'" in message
    assert "drop_unlabelled=True" in message
    assert [ex.label for ex in task.test] == ["neutral", "-", "entailment", "-"]
    assert task.test[1].id == "MNLI-test-1"


def test_drop_unlabelled(mini) -> None:
    _mnli(mini)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        task = load_task("MNLI", mini.root, drop_unlabelled=True)
    assert [ex.sentence for ex in task.test] == ["t0", "t2"]
    assert [ex.id for ex in task.dev] == ["MNLI-dev-0", "MNLI-dev-2"]
    assert len(task.train) == 3
