"""Loader of the long-sequence instruction format used by Recurrent-KIF.

Files: `long_sequence_instruct/{train,dev,test}/<task>.json`, each a JSON list of
`{"id", "instruction", "input", "output"}` (task names in lower case). The instruction holds the
question and the option list, the input ends with "\\nAnswer:", the output is the label. Tasks get
format "instruct": T5 source = instruction + input, causal LMs use the Alpaca template
(`task.prompted(split, template="alpaca")`).

The released copy lacked `test/dbpedia.json` and `test/yahoo.json`; the shared data now holds
rebuilt ones (see its PROVENANCE.md: NOT the release's samples). A test file can still be given
explicitly; `Task.files` records the file used for each split.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from os import PathLike
from pathlib import Path

from tqdm.auto import tqdm

from cl_data.benchmark import DATASETS
from cl_data.errors import DataError
from cl_data.jsonio import read_json_list, string_field
from cl_data.orders import kif_to_olora, olora_to_kif, order_tasks
from cl_data.paths import shared_data_root
from cl_data.task import SPLITS, Example, Task, TaskStream

# long-sequence task name -> task type of the corresponding benchmark dataset.
LONG_SEQUENCE_TASKS: dict[str, str] = {name.lower(): kind for name, kind in DATASETS.items()}
# Test files absent from the released copy (rebuilt in the shared data; see its PROVENANCE.md).
MISSING_TESTS: frozenset[str] = frozenset({"dbpedia", "yahoo"})

PathArg = str | PathLike[str]


def default_long_sequence_dir() -> Path:
    """`$CL_SHARED_DATA/long_sequence_instruct`."""
    return shared_data_root() / "long_sequence_instruct"


def read_records(path: Path, task: str) -> tuple[Example, ...]:
    """The records of one long-sequence file as Examples (`id` defaults to `<task>_<row>`)."""
    rows = read_json_list(path)
    examples = []
    for index, row in enumerate(rows):
        instruction = string_field(row, "instruction", path, index)
        text = string_field(row, "input", path, index)
        output = string_field(row, "output", path, index)
        record_id = str(row["id"]) if "id" in row else f"{task}_{index}"
        examples.append(Example(text, output, record_id, instruction))
    return tuple(examples)


def load_instruct_task(
    name: str,
    data_dir: PathArg | None = None,
    *,
    test_file: PathArg | None = None,
) -> Task:
    """One long-sequence task (`name` in any letter case, e.g. "sst-2" or "SST-2").

    `test_file` replaces `<data_dir>/test/<name>.json` (the released copy has no dbpedia or
    yahoo test file; the shared data has rebuilt ones). Labels are the distinct training outputs
    in order of first appearance (the class definition of the KIF memory buffer).
    """
    task = name.lower()
    if task not in LONG_SEQUENCE_TASKS:
        known = ", ".join(LONG_SEQUENCE_TASKS)
        raise DataError(f"unknown long-sequence task {name!r}; known tasks: {known}")
    root = default_long_sequence_dir() if data_dir is None else Path(data_dir)
    if not root.is_dir():
        raise DataError(
            "long-sequence directory not found (pass data_dir, or set CL_SHARED_DATA to the "
            "folder that holds long_sequence_instruct)",
            root,
        )
    paths = {split: root / split / f"{task}.json" for split in SPLITS}
    if test_file is not None:
        paths["test"] = Path(test_file)
    elif not paths["test"].exists():
        hint = (
            " (the released copy has no dbpedia or yahoo test file)"
            if task in MISSING_TESTS
            else ""
        )
        raise DataError(
            f"test file of {task!r} not found{hint}; pass test_file=... (--test-file) to choose "
            "one explicitly",
            paths["test"],
        )
    splits = {split: read_records(path, task) for split, path in paths.items()}
    for split in ("train", "test"):
        if not any(ex.label.strip() for ex in splits[split]):
            what = "no rows" if not splits[split] else "no row with a non-empty output"
            raise DataError(f"the {split} split has {what}", paths[split])
    labels = tuple(dict.fromkeys(ex.label for ex in splits["train"]))
    return Task(
        name=task,
        task_type=LONG_SEQUENCE_TASKS[task],
        labels=labels,
        train=splits["train"],
        dev=splits["dev"],
        test=splits["test"],
        format="instruct",
        files={split: str(path) for split, path in paths.items()},
    )


def load_instruct_stream(
    order: int | Sequence[str],
    data_dir: PathArg | None = None,
    *,
    kif_numbering: bool = False,
    test_files: Mapping[str, PathArg] | None = None,
) -> TaskStream:
    """Long-sequence tasks of an order, or of a list of task names, in training order.

    `order` is an O-LoRA order number (1-6) unless `kif_numbering=True`, in which case it is the
    Recurrent-KIF reference id (1 -> O-LoRA 4, ..., 4 -> O-LoRA 1). `test_files` maps task names
    to explicit test files.
    """
    chosen = {name.lower(): path for name, path in (test_files or {}).items()}
    if isinstance(order, int):
        olora = kif_to_olora(order) if kif_numbering else order
        names = tuple(name.lower() for name in order_tasks(olora))
        label = f"order {olora} (Recurrent-KIF id {olora_to_kif(olora)})"
    else:
        if isinstance(order, str):
            raise DataError(f"order must be a number or a list of task names, not {order!r}")
        names, olora, label = tuple(name.lower() for name in order), None, "custom order"
    unused = set(chosen) - set(names)
    if unused:
        raise DataError(f"test_files names tasks outside the order: {sorted(unused)}")
    tasks = tuple(
        load_instruct_task(name, data_dir, test_file=chosen.get(name))
        for name in tqdm(names, desc="loading tasks", unit="task", disable=None)
    )
    return TaskStream(tasks=tasks, name=f"long_sequence_instruct {label}", order=olora)
