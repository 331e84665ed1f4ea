"""The real benchmark at $CL_SHARED_DATA/CL_Benchmark: every dataset, every order."""

from __future__ import annotations

import json
import warnings

import pytest

from cl_data import DATASETS, ORDERS, SPLITS, DataWarning, load_stream, load_task

# benchmark-and-metrics.md, section 1.
SPEC_TYPES = {
    "SC": {"amazon", "yelp", "IMDB", "SST-2"},
    "TC": {"agnews", "dbpedia", "yahoo"},
    "NLI": {"MNLI", "CB", "RTE"},
    "QQP": {"QQP"},
    "BoolQA": {"BoolQA"},
    "COPA": {"COPA"},
    "MultiRC": {"MultiRC"},
    "WiC": {"WiC"},
}
SENTIMENT5 = ("very negative", "negative", "neutral", "positive", "very positive")
SPEC_LABELS = {
    "agnews": ("World", "Sports", "Business", "Science or Technology"),
    "amazon": SENTIMENT5,
    "yelp": SENTIMENT5,
    "IMDB": ("Good", "Bad"),
    "SST-2": ("Good", "Bad"),
    "RTE": ("contradiction", "entailment"),
    "QQP": ("False", "True"),
    "BoolQA": ("True", "False"),
    "MultiRC": ("False", "True"),
    "WiC": ("True", "False"),
    "COPA": ("A", "B"),
    "CB": ("entailment", "contradiction", "neutral"),
    "MNLI": ("neutral", "entailment", "contradiction"),
}
# (train, dev, test) sizes found in the shared copy (see PROVENANCE.md for the rebuilt files).
SIZES = {
    "amazon": (5000, 7600, 7600),
    "yelp": (5000, 500, 2500),
    "IMDB": (2000, 500, 1000),
    "SST-2": (2000, 872, 872),
    "agnews": (4000, 7600, 7600),
    "dbpedia": (1000, 7600, 7600),
    "yahoo": (1000, 500, 500),
    "MNLI": (3000, 7600, 7600),
    "CB": (250, 56, 56),
    "RTE": (2000, 277, 277),
    "QQP": (2000, 7600, 7600),
    "BoolQA": (2000, 3270, 3270),
    "COPA": (400, 100, 100),
    "MultiRC": (2000, 500, 1000),
    "WiC": (2000, 638, 638),
}


@pytest.fixture(scope="module")
def all_tasks(benchmark_dir):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        tasks = {name: load_task(name, benchmark_dir) for name in DATASETS}
    return tasks, [w for w in caught if issubclass(w.category, DataWarning)]


def test_task_types_match_the_spec() -> None:
    assert {kind: {n for n, k in DATASETS.items() if k == kind} for kind in SPEC_TYPES} == (
        SPEC_TYPES
    )
    assert len(DATASETS) == 15


def test_every_dataset_loads(all_tasks, benchmark_dir) -> None:
    tasks, _ = all_tasks
    for name, task in tasks.items():
        assert task.task_type == DATASETS[name]
        sizes = tuple(len(task.split(s)) for s in SPLITS)
        assert sizes == SIZES[name], name
        for split in SPLITS:  # independent count of the file's rows
            path = benchmark_dir / task.task_type / name / f"{split}.json"
            assert len(json.loads(path.read_text())) == len(task.split(split))
            assert task.files[split] == str(path)


def test_label_sets(all_tasks, benchmark_dir) -> None:
    tasks, _ = all_tasks
    for name, labels in SPEC_LABELS.items():
        assert tasks[name].labels == labels, name
    assert len(tasks["dbpedia"].labels) == 14
    assert len(tasks["yahoo"].labels) == 10
    for name, task in tasks.items():
        labels_file = benchmark_dir / task.task_type / name / "labels.json"
        assert list(task.labels) == json.loads(labels_file.read_text())
        assert set(task.label_counts("train")) == set(task.labels)


def test_mnli_unlabelled_rows(all_tasks, benchmark_dir) -> None:
    tasks, caught = all_tasks
    assert len(caught) == 1 and "MNLI" in str(caught[0].message)
    mnli = tasks["MNLI"]
    assert sum(ex.label == "-" for ex in mnli.test) == 131
    assert sum(ex.label == "-" for ex in mnli.dev) == 131
    other = [n for n, t in tasks.items() if n != "MNLI" and any(e.label == "-" for e in t.test)]
    assert other == []
    dropped = load_task("MNLI", benchmark_dir, drop_unlabelled=True)
    assert len(dropped.test) == 7600 - 131
    assert len(dropped.train) == 3000


@pytest.mark.parametrize("order", sorted(ORDERS))
def test_every_order_loads(order, benchmark_dir, all_tasks) -> None:
    tasks, _ = all_tasks
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DataWarning)
        stream = load_stream(order, benchmark_dir)
    assert stream.order == order
    assert stream.names == ORDERS[order]
    for task in stream:
        assert task == tasks[task.name]
