"""Replay buffers (spec classic-methods.md section 2.2) that store raw examples.

:class:`ClassBalancedBuffer`, capacity M. After task t, with ``A`` classes seen so far:

- quota ``q = M // A`` (or ``M // num_class`` with ``fixed_budget_per_class``);
- old classes are trimmed to q, dropping their newest items first;
- each new class gets at most q items: ``random`` keeps the first met in a seeded shuffle of
  the task's data, ``herding`` picks by :func:`herding_select` on post-task features.

:class:`RatioBuffer` (generation, unlabeled data): after each task, add ``floor(r * |D_t|)``
examples drawn without replacement (DECISION: the reference drew with replacement).

Both are seeded, and their ``state_dict`` holds everything (examples included) for checkpoints.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch

from .selection import first_per_class, herding_select

LabelFn = Callable[[Any], "int | Sequence[int]"]


def _classes(label: int | Sequence[int]) -> tuple[int, ...]:
    if isinstance(label, (list, tuple)):
        return tuple(int(c) for c in label)
    return (int(label),)


class ReplayBuffer:
    """Common part: stored examples, seeded draws, state."""

    def __init__(self, seed: int = 1) -> None:
        self.seed = seed
        self.items: list[Any] = []

    def __len__(self) -> int:
        return len(self.items)

    def examples(self) -> list[Any]:
        return list(self.items)

    def sample(self, k: int, rng: np.random.Generator) -> list[Any]:
        """``k`` stored examples drawn uniformly with replacement."""
        if not self.items or k <= 0:
            return []
        return [self.items[int(i)] for i in rng.integers(0, len(self.items), size=k)]

    def state_dict(self) -> dict[str, Any]:
        return {"seed": self.seed, "items": list(self.items)}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.seed = state["seed"]
        self.items = list(state["items"])


class ClassBalancedBuffer(ReplayBuffer):
    """Per-class quotas over at most ``capacity`` examples (see the module docstring)."""

    def __init__(
        self,
        capacity: int = 100,
        *,
        selection: str = "random",
        fixed_budget_per_class: bool = False,
        num_class: int | None = None,
        seed: int = 1,
    ) -> None:
        super().__init__(seed)
        if capacity < 0:
            raise ValueError(f"buffer capacity must be >= 0, got {capacity}")
        if selection not in ("random", "herding"):
            raise ValueError(f"selection must be 'random' or 'herding', got {selection!r}")
        if fixed_budget_per_class and not num_class:
            raise ValueError("fixed_budget_per_class needs num_class (the total class count)")
        self.capacity = capacity
        self.selection = selection
        self.fixed_budget_per_class = fixed_budget_per_class
        self.num_class = num_class
        self.item_classes: list[tuple[int, ...]] = []
        self.seen_classes: list[int] = []

    def quota(self, num_seen_classes: int) -> int:
        total = self.num_class if self.fixed_budget_per_class else num_seen_classes
        return self.capacity // max(int(total or 1), 1)

    def class_counts(self) -> dict[int, int]:
        counts: dict[int, int] = {}
        for classes in self.item_classes:
            for c in classes:
                counts[c] = counts.get(c, 0) + 1
        return counts

    def trim(self, quota: int) -> None:
        """Every class keeps at most ``quota`` items; the newest items of a class go first."""
        counts = self.class_counts()
        keep = [True] * len(self.items)
        for i in range(len(self.items) - 1, -1, -1):
            if any(counts[c] > quota for c in self.item_classes[i]):
                keep[i] = False
                for c in self.item_classes[i]:
                    counts[c] -= 1
        self.items = [x for x, k in zip(self.items, keep) if k]
        self.item_classes = [c for c, k in zip(self.item_classes, keep) if k]

    def update(
        self,
        examples: Sequence[Any],
        labels: Sequence[int | Sequence[int]],
        *,
        task_index: int = 0,
        num_seen_classes: int | None = None,
        features: torch.Tensor | Callable[[list[Any]], torch.Tensor] | None = None,
    ) -> None:
        """Add the examples of a finished task. ``labels[i]`` is the class (or, word-level, the
        classes) of ``examples[i]``. ``num_seen_classes`` defaults to the distinct classes seen
        so far. ``features`` (herding only) is an (n, d) tensor or a callable on a list of
        examples returning one."""
        if len(labels) != len(examples):
            raise ValueError(f"{len(examples)} examples but {len(labels)} labels")
        classes = [_classes(lab) for lab in labels]
        new = sorted({c for cs in classes for c in cs} - set(self.seen_classes))
        self.seen_classes.extend(new)
        seen = num_seen_classes if num_seen_classes is not None else len(self.seen_classes)
        q = self.quota(seen)
        self.trim(q)
        if self.selection == "random":
            order = list(range(len(examples)))
            random.Random(f"{self.seed}/{task_index}").shuffle(order)
            chosen = first_per_class(order, classes, q, set(new))
        else:
            chosen = self._herding(examples, classes, new, q, features)
        self.items.extend(examples[i] for i in chosen)
        self.item_classes.extend(classes[i] for i in chosen)

    def _herding(self, examples, classes, new, q, features) -> list[int]:
        if features is None:
            raise ValueError("herding selection needs features (a tensor or a callable)")
        if any(len(cs) != 1 for cs in classes):
            raise ValueError("herding selection is for sentence-level data (one class per row)")
        if callable(features):
            features = features(list(examples))
        if features.shape[0] != len(examples):
            raise ValueError(f"{features.shape[0]} feature rows for {len(examples)} examples")
        chosen = []
        for c in new:
            rows = [i for i, cs in enumerate(classes) if cs[0] == c]
            picked = herding_select(features[rows], q)
            chosen.extend(rows[j] for j in picked)
        return chosen

    def state_dict(self) -> dict[str, Any]:
        return {
            **super().state_dict(),
            "item_classes": [list(c) for c in self.item_classes],
            "seen_classes": list(self.seen_classes),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        super().load_state_dict(state)
        self.item_classes = [tuple(c) for c in state["item_classes"]]
        self.seen_classes = list(state["seen_classes"])


class RatioBuffer(ReplayBuffer):
    """After each task, ``floor(ratio * |D_t|)`` of its examples, drawn without replacement."""

    def __init__(self, ratio: float = 0.01, *, seed: int = 1) -> None:
        super().__init__(seed)
        if not 0 <= ratio <= 1:
            raise ValueError(f"ratio must be in [0, 1], got {ratio}")
        self.ratio = ratio

    def update(self, examples: Sequence[Any], *, task_index: int = 0, **_: Any) -> None:
        k = math.floor(self.ratio * len(examples))
        picked = random.Random(f"{self.seed}/{task_index}").sample(range(len(examples)), k)
        self.items.extend(examples[i] for i in sorted(picked))
