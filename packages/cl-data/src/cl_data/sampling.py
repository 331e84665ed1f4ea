"""Seeded sub-sampling of a task's splits, optionally class-balanced.

The draw of a split depends only on (seed, task name, split), not on the task's position in a
stream, so a task keeps the same subset in every order. Sub-samples keep the file order.
"""

from __future__ import annotations

import random
from collections.abc import Sequence

from cl_data.task import Example, Task


def _check_limit(name: str, value: int | None) -> None:
    if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 0):
        raise ValueError(f"{name} must be a non-negative integer or None, got {value!r}")


def sample_indices(
    labels: Sequence[str],
    n: int,
    rng: random.Random,
    *,
    balanced: bool = False,
    label_order: Sequence[str] = (),
) -> list[int]:
    """Choose `n` of `len(labels)` indices without replacement, returned in ascending order.

    balanced=True takes one example per class in turn (classes in `label_order`, then in order
    of first appearance), so class counts differ by at most one; a class that runs out leaves its
    share to the others.
    """
    if n >= len(labels):
        return list(range(len(labels)))
    if not balanced:
        return sorted(rng.sample(range(len(labels)), n))
    by_class: dict[str, list[int]] = {label: [] for label in label_order}
    for index, label in enumerate(labels):
        by_class.setdefault(label, []).append(index)
    pools = [rng.sample(pool, len(pool)) for pool in by_class.values() if pool]
    chosen: list[int] = []
    depth = 0
    while len(chosen) < n:
        for pool in pools:
            if depth < len(pool) and len(chosen) < n:
                chosen.append(pool[depth])
        depth += 1
    return sorted(chosen)


def subsample_examples(
    examples: Sequence[Example],
    n: int | None,
    *,
    seed: int = 42,
    key: str = "",
    balanced: bool = False,
    label_order: Sequence[str] = (),
) -> tuple[Example, ...]:
    """At most `n` examples (all when `n` is None), drawn with an RNG seeded by (seed, key)."""
    _check_limit("n", n)
    if n is None or n >= len(examples):
        return tuple(examples)
    rng = random.Random(f"{seed}/{key}")
    labels = [ex.label for ex in examples]
    indices = sample_indices(labels, n, rng, balanced=balanced, label_order=label_order)
    return tuple(examples[i] for i in indices)


def subsample_task(
    task: Task,
    *,
    max_train_samples: int | None = None,
    max_dev_samples: int | None = None,
    max_test_samples: int | None = None,
    seed: int = 42,
    balanced: bool = False,
) -> Task:
    """A copy of `task` with each split cut to its limit (None keeps the split whole).

    `max_dev_samples` defaults to `max_test_samples` (upstream dev is a copy of test).
    """
    for name, value in (
        ("max_train_samples", max_train_samples),
        ("max_dev_samples", max_dev_samples),
        ("max_test_samples", max_test_samples),
    ):
        _check_limit(name, value)
    if max_dev_samples is None:
        max_dev_samples = max_test_samples
    limits = {"train": max_train_samples, "dev": max_dev_samples, "test": max_test_samples}
    new = {
        split: subsample_examples(
            task.split(split),
            limit,
            seed=seed,
            key=f"{task.name}/{split}",
            balanced=balanced,
            label_order=task.labels,
        )
        for split, limit in limits.items()
    }
    return task.with_splits(**new)
