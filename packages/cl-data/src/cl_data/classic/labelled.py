"""Class-incremental tasks from labelled rows: task t owns the next ``k`` classes of a class list.

The builders of CLINC150, BANKING77, FewRel and TACRED read their raw files into
:class:`LabelledSplit` objects (rows of ``(input, class index)`` plus the file they came from)
and call :func:`assemble_class_tasks`, which

- checks that the classes split evenly into the tasks and that no split is empty;
- caps each class of a split at ``caps[split]`` rows (``None``: keep all; a cap below the
  class size draws a seeded sample, ``random.Random(f"{dataset}/{seed}/{class}/{split}")``);
- puts each row in the task that owns its class, shuffles each task's split with
  ``random.Random(f"{dataset}/{seed}/task{t}/{split}")`` (so "the first N rows of a task" mixes
  its classes), and derives ``label_idx_til`` = class index - ``PRE_ACCUM_NUM_CLASS[t]``;
- raises a :class:`DataError` naming the file when a task has no labelled row in a split.

``dev_from_test=True`` makes every task's dev split an exact copy of its test split ("dev =
test", as BANKING77 and TACRED are prepared in the classic codebase).
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cl_data.classic.continual import ContinualConfig, ContinualData
from cl_data.errors import DataError

SPLITS = ("train", "dev", "test")


@dataclass(frozen=True)
class LabelledSplit:
    """The rows of one split as ``(input, class index)`` pairs, and the file they came from."""

    path: Path
    rows: list[tuple[str, int]]


def _capped(rows: list[str], cap: int | None, key: str) -> list[str]:
    if cap is None or cap < 0 or len(rows) <= cap:
        return list(rows)
    return random.Random(key).sample(rows, cap)


def assemble_class_tasks(
    dataset: str,
    class_names: Sequence[str],
    splits: Mapping[str, LabelledSplit],
    *,
    num_task: int,
    seed: int = 1,
    caps: Mapping[str, int | None] | None = None,
    dev_from_test: bool = False,
    extras: Mapping[str, Any] | None = None,
) -> tuple[ContinualData, ContinualConfig]:
    """Continual data and config with ``len(class_names) // num_task`` classes per task."""
    if not splits:
        raise ValueError(f"{dataset}: no splits given")
    caps = dict(caps or {})
    num_class = len(class_names)
    first = next(iter(splits.values())).path
    if num_task < 1 or num_class % num_task:
        raise DataError(f"{num_class} classes do not split into {num_task} equal tasks", first)
    per_task = num_class // num_task
    config = ContinualConfig.from_class_counts(
        [per_task] * num_task, list(class_names), extras=dict(extras or {})
    )
    wanted = ("train", "test") if dev_from_test else SPLITS
    missing = [s for s in wanted if s not in splits]
    if missing:
        raise ValueError(f"{dataset}: splits {missing} are missing")
    data: ContinualData = {t: {} for t in range(num_task)}
    for split in wanted:
        source = splits[split]
        cap = caps.get(split)
        if not source.rows:
            raise DataError(f"the {split} split has no labelled rows", source.path)
        by_class: list[list[str]] = [[] for _ in range(num_class)]
        for row, (text, label) in enumerate(source.rows):
            if not 0 <= label < num_class:
                raise DataError(f"class index {label} outside [0, {num_class})", source.path, row)
            by_class[label].append(text)
        for t in range(num_task):
            lo = config.pre_accum_num_class[t]
            rows = [
                (text, c)
                for c in config.cur_class[t]  # type: ignore[index]
                for text in _capped(by_class[c], cap, f"{dataset}/{seed}/{c}/{split}")
            ]
            if not rows and cap != 0:
                names = ", ".join(class_names[lo : lo + per_task])
                raise DataError(
                    f"task {t} has no labelled rows in the {split} split (classes: {names})",
                    source.path,
                )
            random.Random(f"{dataset}/{seed}/task{t}/{split}").shuffle(rows)
            data[t][split] = {
                "input": [x for x, _ in rows],
                "target": [class_names[c] for _, c in rows],
                "label_idx_cil": [c for _, c in rows],
                "label_idx_til": [c - lo for _, c in rows],
            }
    if dev_from_test:
        for t in range(num_task):
            data[t]["dev"] = {col: list(values) for col, values in data[t]["test"].items()}
            data[t] = {split: data[t][split] for split in SPLITS}
    return data, config
