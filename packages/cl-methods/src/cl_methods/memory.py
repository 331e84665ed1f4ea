"""A small class-stratified episodic memory of earlier tasks' training examples.

Used by Recurrent-KIF's outer loop (spec recurrent-kif.md section 5) and reusable by any
replay-style method. For a task with ``n`` training examples the buffer keeps
``m = floor(n * ratio / 100)`` of them (ratio 2 -> 20 of 1000, CB 5 of 250, COPA 8 of 400):

- classes are the distinct class keys (the record's ``output`` string) in first-appearance order,
  ``C`` of them, and ``k = max(1, floor(m / C))``;
- ``min(k, class size)`` indices are drawn per class without replacement;
- when that gives fewer than ``m``, the shortfall comes from the unchosen indices (sorted
  ascending first); when ``C > m`` all ``C`` draws are kept.

One NumPy generator, seeded once, is consumed task by task, so task ``i``'s sample is the same in
every later buffer (re-seeding and re-drawing tasks ``0..i`` gives identical rows). The generator's
state travels in :meth:`MemoryBuffer.state_dict`, so a resumed run draws the same samples.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Hashable, Sequence
from typing import Any

import numpy as np
import torch

IGNORE_INDEX = -100


def default_class_key(example: Any, key: str = "output") -> Hashable:
    """The class of an example: ``example[key]`` when it is a mapping holding ``key``, else the
    answer tokens (``labels`` without -100), else its ``target``/``label`` field, else the
    example itself (when hashable)."""
    if isinstance(example, dict):
        if key in example:
            return example[key]
        if "labels" in example:
            return tuple(int(t) for t in example["labels"] if int(t) != IGNORE_INDEX)
        for other in ("target", "label"):
            if other in example:
                return example[other]
    label = getattr(example, key, None) or getattr(example, "label", None)
    if label is not None:
        return label
    if isinstance(example, Hashable):
        return example
    raise TypeError(
        f"cannot tell the class of a {type(example).__name__}: give examples a {key!r} field "
        "or pass class_of=..."
    )


def memory_size(n: int, ratio: float) -> int:
    """``floor(n * ratio / 100)``: examples kept of a task with ``n`` training examples."""
    return math.floor(n * ratio / 100.0 + 1e-9)


def stratified_indices(
    classes: Sequence[Hashable], ratio: float, rng: np.random.Generator
) -> list[int]:
    """Indices of one task's memory sample (see the module docstring for the rule)."""
    n = len(classes)
    if n == 0:
        return []
    m = memory_size(n, ratio)
    by_class: dict[Hashable, list[int]] = {}
    for index, label in enumerate(classes):
        by_class.setdefault(label, []).append(index)
    k = max(1, m // len(by_class))
    chosen: list[int] = []
    for pool in by_class.values():
        take = min(k, len(pool))
        chosen.extend(int(i) for i in rng.choice(pool, size=take, replace=False))
    if len(chosen) < m:
        taken = set(chosen)
        rest = sorted(i for i in range(n) if i not in taken)
        extra = rng.choice(rest, size=min(m - len(chosen), len(rest)), replace=False)
        chosen.extend(int(i) for i in extra)
    return chosen


class MemoryBuffer:
    """Per-task samples of earlier tasks' training examples, concatenated in task order.

    ``add_task(name, examples)`` draws the task's sample and appends it; ``examples`` are the
    rows to store (e.g. encoded features); ``class_of`` maps a row to its class.
    """

    def __init__(
        self,
        ratio: float = 2.0,
        seed: int = 42,
        class_of: Callable[[Any], Hashable] | None = None,
    ) -> None:
        if ratio < 0:
            raise ValueError(f"memory ratio must be >= 0 (percent), got {ratio}")
        self.ratio = float(ratio)
        self.seed = int(seed)
        self.class_of = class_of or default_class_key
        self._rng = np.random.default_rng(self.seed)
        self.task_names: list[str] = []
        self.task_indices: list[list[int]] = []
        self.task_rows: list[list[Any]] = []

    def add_task(self, name: str, examples: Sequence[Any]) -> list[int]:
        """Sample ``examples`` (one task's training set) into the buffer; returns the indices."""
        if name in self.task_names:
            raise ValueError(f"task {name!r} is already in the memory buffer")
        classes = [self.class_of(ex) for ex in examples]
        indices = stratified_indices(classes, self.ratio, self._rng)
        self.task_names.append(name)
        self.task_indices.append(indices)
        self.task_rows.append([examples[i] for i in indices])
        return indices

    @classmethod
    def build(
        cls,
        tasks: Sequence[tuple[str, Sequence[Any]]],
        ratio: float = 2.0,
        seed: int = 42,
        class_of: Callable[[Any], Hashable] | None = None,
    ) -> MemoryBuffer:
        """A buffer of ``tasks`` (name, examples) drawn from a freshly seeded generator."""
        buffer = cls(ratio, seed, class_of)
        for name, examples in tasks:
            buffer.add_task(name, examples)
        return buffer

    @property
    def rows(self) -> list[Any]:
        return [row for rows in self.task_rows for row in rows]

    def __len__(self) -> int:
        return sum(len(rows) for rows in self.task_rows)

    def sample(self, size: int, generator: torch.Generator) -> list[Any]:
        """``size`` rows drawn without replacement from the whole buffer (all of it when smaller),
        independent of earlier draws."""
        rows = self.rows
        if not rows:
            raise ValueError("the memory buffer is empty")
        if size >= len(rows):
            order = torch.randperm(len(rows), generator=generator)
        else:
            order = torch.randperm(len(rows), generator=generator)[:size]
        return [rows[int(i)] for i in order]

    def state_dict(self) -> dict[str, Any]:
        return {
            "ratio": self.ratio,
            "seed": self.seed,
            "rng": self._rng.bit_generator.state,
            "task_names": list(self.task_names),
            "task_indices": [list(i) for i in self.task_indices],
            "task_rows": [list(r) for r in self.task_rows],
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.ratio = float(state["ratio"])
        self.seed = int(state["seed"])
        self._rng = np.random.default_rng(self.seed)
        self._rng.bit_generator.state = state["rng"]
        self.task_names = list(state["task_names"])
        self.task_indices = [list(i) for i in state["task_indices"]]
        self.task_rows = [list(r) for r in state["task_rows"]]
