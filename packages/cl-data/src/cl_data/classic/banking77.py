"""BANKING77: 77 intents in 7 tasks of 11 (spec classic-methods.md section 3.2).

Input: the public release (github.com/PolyAI-LDN/task-specific-datasets, folder banking_data):
``categories.json`` (the list of the 77 category ids), ``train.csv`` and ``test.csv`` (header
``text,category``; 10003 and 3080 rows). Class order = the order of ``categories.json`` (as in
the classic codebase, no shuffle): task t owns categories ``[11t, 11t + 11)``. Class names are
the category ids with ``_`` -> space. There is no validation file: dev = test (every task's dev
split is a copy of its test split).
"""

from __future__ import annotations

import csv
from os import PathLike
from pathlib import Path

from cl_data.classic.continual import ContinualConfig, ContinualData
from cl_data.classic.labelled import LabelledSplit, assemble_class_tasks
from cl_data.errors import DataError
from cl_data.jsonio import read_json_list
from cl_data.paths import shared_data_root

CATEGORIES_FILE = "categories.json"
SPLIT_FILES = {"train": "train.csv", "test": "test.csv"}
HEADER = ["text", "category"]


def default_banking77_dir() -> Path:
    return shared_data_root() / "banking77"


def read_banking77_categories(path: str | PathLike[str]) -> list[str]:
    """The category ids of ``categories.json`` in file order (strings, no duplicates)."""
    path = Path(path)
    categories = read_json_list(path)
    for i, name in enumerate(categories):
        if not isinstance(name, str) or not name:
            raise DataError(f"expected a category name, found {name!r}", path, i)
    if len(set(categories)) != len(categories):
        raise DataError("the category list holds duplicates", path)
    return categories


def read_banking77_csv(path: str | PathLike[str]) -> list[tuple[str, str]]:
    """The ``(text, category)`` rows of a BANKING77 csv file (header ``text,category``).
    Row numbers in errors count data rows from 0 (the header is not a row)."""
    path = Path(path)
    if not path.is_file():
        raise DataError("file not found", path)
    with path.open(encoding="utf-8", newline="") as handle:
        reader = csv.reader(handle)
        header = next(reader, None)
        if header != HEADER:
            raise DataError(f"expected the header {','.join(HEADER)}, found {header!r}", path)
        rows = []
        for i, row in enumerate(reader):
            if len(row) != 2:
                raise DataError(f"expected 2 fields (text, category), found {len(row)}", path, i)
            rows.append((row[0], row[1]))
    return rows


def build_banking77(
    data_dir: str | PathLike[str] | None = None,
    *,
    num_task: int = 7,
    seed: int = 1,
    train_per_class: int | None = None,
    test_per_class: int | None = None,
) -> tuple[ContinualData, ContinualConfig]:
    """BANKING77 as (continual data, config); ``data_dir`` defaults to
    ``$CL_SHARED_DATA/banking77``; ``*_per_class`` cap each class (None: all rows)."""
    directory = Path(data_dir) if data_dir is not None else default_banking77_dir()
    categories = read_banking77_categories(directory / CATEGORIES_FILE)
    index = {name: i for i, name in enumerate(categories)}
    splits: dict[str, LabelledSplit] = {}
    for split, filename in SPLIT_FILES.items():
        path = directory / filename
        labelled = []
        for i, (text, category) in enumerate(read_banking77_csv(path)):
            if category not in index:
                raise DataError(f"category {category!r} is not in {CATEGORIES_FILE}", path, i)
            labelled.append((text, index[category]))
        splits[split] = LabelledSplit(path, labelled)
    return assemble_class_tasks(
        "banking77",
        [name.replace("_", " ") for name in categories],
        splits,
        num_task=num_task,
        seed=seed,
        caps={"train": train_per_class, "test": test_per_class},
        dev_from_test=True,
        extras={"SOURCE_LABEL_LIST": categories, "CLASS_ORDER": f"file: {CATEGORIES_FILE}"},
    )
