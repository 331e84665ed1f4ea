"""Loader of the 15-task CL benchmark: `CL_Benchmark/<TaskType>/<dataset>/{train,dev,test}.json`.

Each data file is a JSON list of `{"sentence": str, "label": str}`; `labels.json` lists the label
strings. Training labels must be in labels.json. Evaluation rows whose label is not (MNLI's `-`)
are kept by default, with one warning, because the benchmark scores them as errors;
`drop_unlabelled=True` drops them.
"""

from __future__ import annotations

import warnings
from collections import Counter
from collections.abc import Sequence
from os import PathLike
from pathlib import Path

from tqdm.auto import tqdm

from cl_data.errors import DataError, DataWarning
from cl_data.jsonio import read_json_list, string_field
from cl_data.orders import order_tasks
from cl_data.paths import shared_data_root
from cl_data.prompts import check_task_type
from cl_data.task import SPLITS, Example, Task, TaskStream

# dataset -> task type, in the order of the spec's table.
DATASETS: dict[str, str] = {
    "amazon": "SC",
    "yelp": "SC",
    "IMDB": "SC",
    "SST-2": "SC",
    "agnews": "TC",
    "dbpedia": "TC",
    "yahoo": "TC",
    "MNLI": "NLI",
    "CB": "NLI",
    "RTE": "NLI",
    "QQP": "QQP",
    "BoolQA": "BoolQA",
    "COPA": "COPA",
    "MultiRC": "MultiRC",
    "WiC": "WiC",
}
UNLABELLED = "-"


def default_benchmark_dir() -> Path:
    """`$CL_SHARED_DATA/CL_Benchmark`."""
    return shared_data_root() / "CL_Benchmark"


def canonical_dataset(name: str) -> str:
    """The benchmark's spelling of a dataset name (matched case-insensitively, e.g. sst-2)."""
    if name in DATASETS:
        return name
    for known in DATASETS:
        if known.lower() == name.lower():
            return known
    raise DataError(f"unknown dataset {name!r}; known datasets: {', '.join(DATASETS)}")


def read_labels(path: Path) -> tuple[str, ...]:
    """`labels.json`: a non-empty JSON list of distinct strings."""
    data = read_json_list(path)
    if not data:
        raise DataError("labels.json is empty", path)
    seen: set[str] = set()
    for index, label in enumerate(data):
        if not isinstance(label, str) or not label:
            raise DataError(f"a label must be a non-empty string, found {label!r}", path, index)
        if label in seen:
            raise DataError(f"duplicate label {label!r}", path, index)
        seen.add(label)
    return tuple(data)


def read_rows(path: Path) -> list[tuple[str, str]]:
    """(sentence, label) of every row of a benchmark data file."""
    rows = read_json_list(path)
    return [
        (string_field(row, "sentence", path, i), string_field(row, "label", path, i))
        for i, row in enumerate(rows)
    ]


def _require_labelled(examples, labels: set[str], split: str, path: Path) -> None:
    """A train or test split with no row at all, or no row with a known label, is an error."""
    if not examples:
        raise DataError(f"the {split} split has no rows (after dropping unlabelled ones)", path)
    if not any(ex.label in labels for ex in examples):
        raise DataError(f"the {split} split has no row with a label from labels.json", path)


def _resolve(name: str, task_type: str | None) -> tuple[str, str]:
    if task_type is not None:
        check_task_type(task_type)
        known = next((k for k in DATASETS if k.lower() == name.lower()), None)
        if known is not None and DATASETS[known] != task_type:
            raise DataError(
                f"dataset {known!r} has task type {DATASETS[known]!r}, not {task_type!r}"
            )
        return (known or name), task_type
    dataset = canonical_dataset(name)
    return dataset, DATASETS[dataset]


def _data_dir(data_dir: str | PathLike[str] | None) -> Path:
    root = default_benchmark_dir() if data_dir is None else Path(data_dir)
    if not root.is_dir():
        raise DataError(
            "benchmark directory not found (pass data_dir, or set CL_SHARED_DATA to the folder "
            "that holds CL_Benchmark)",
            root,
        )
    return root


def load_task(
    name: str,
    data_dir: str | PathLike[str] | None = None,
    *,
    task_type: str | None = None,
    drop_unlabelled: bool = False,
) -> Task:
    """Load one dataset of the benchmark as a Task.

    `name` is one of DATASETS (any letter case). A dataset outside the table can be loaded from
    `<data_dir>/<task_type>/<name>` by giving its task type. `data_dir` defaults to
    `$CL_SHARED_DATA/CL_Benchmark`.
    """
    root = _data_dir(data_dir)
    dataset, kind = _resolve(name, task_type)
    folder = root / kind / dataset
    if not folder.is_dir():
        raise DataError(f"dataset folder of {dataset!r} not found", folder)
    labels = read_labels(folder / "labels.json")
    label_set = set(labels)
    splits: dict[str, tuple[Example, ...]] = {}
    files: dict[str, str] = {}
    outside: dict[str, Counter[str]] = {}
    for split in SPLITS:
        path = folder / f"{split}.json"
        rows = read_rows(path)
        files[split] = str(path)
        examples = []
        for index, (sentence, label) in enumerate(rows):
            if label not in label_set:
                if split == "train":
                    raise DataError(
                        f"training label {label!r} is not in labels.json {list(labels)}",
                        path,
                        index,
                    )
                outside.setdefault(split, Counter())[label] += 1
                if drop_unlabelled:
                    continue
            examples.append(Example(sentence, label, f"{dataset}-{split}-{index}"))
        splits[split] = tuple(examples)
        if split in ("train", "test"):
            _require_labelled(splits[split], label_set, split, path)
    if outside and not drop_unlabelled:
        found = "; ".join(
            f"{split}: " + ", ".join(f"{n} x {label!r}" for label, n in counts.items())
            for split, counts in outside.items()
        )
        warnings.warn(
            f"{dataset}: kept evaluation rows whose label is not in labels.json ({found}); they "
            "count as errors when scored, as in the benchmark. Pass drop_unlabelled=True "
            "(--drop-unlabelled) to drop them.",
            DataWarning,
            stacklevel=2,
        )
    return Task(
        name=dataset,
        task_type=kind,
        labels=labels,
        train=splits["train"],
        dev=splits["dev"],
        test=splits["test"],
        format="benchmark",
        files=files,
    )


def load_stream(
    order: int | Sequence[str],
    data_dir: str | PathLike[str] | None = None,
    *,
    drop_unlabelled: bool = False,
) -> TaskStream:
    """The tasks of O-LoRA order `order` (1-6), or of a list of dataset names, in order."""
    if isinstance(order, str):
        raise DataError(f"order must be an order number or a list of dataset names, not {order!r}")
    names = order_tasks(order) if isinstance(order, int) else tuple(order)
    root = _data_dir(data_dir)
    tasks = tuple(
        load_task(name, root, drop_unlabelled=drop_unlabelled)
        for name in tqdm(names, desc="loading tasks", unit="task", disable=None)
    )
    label = f"order {order}" if isinstance(order, int) else "custom order"
    return TaskStream(
        tasks=tasks,
        name=f"CL_Benchmark {label}",
        order=order if isinstance(order, int) else None,
    )
