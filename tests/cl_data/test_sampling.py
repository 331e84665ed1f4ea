"""Seeded, optionally class-balanced sub-sampling."""

from __future__ import annotations

from collections import Counter

import pytest

from cl_data import Example, Task, TaskStream, subsample_task


def make_task(name: str = "t", counts: dict[str, int] | None = None) -> Task:
    counts = counts or {"A": 30, "B": 20, "C": 4}
    train = tuple(
        Example(f"{label}{i}", label, f"{name}-train-{label}{i}")
        for label, n in counts.items()
        for i in range(n)
    )
    test = tuple(Example(f"t{i}", "A" if i % 3 else "B", f"{name}-test-{i}") for i in range(30))
    dev = tuple(Example(f"d{i}", "A", f"{name}-dev-{i}") for i in range(30))
    return Task(name, "TC", tuple(counts), train, dev, test)


def test_sizes_order_and_determinism() -> None:
    task = make_task()
    small = subsample_task(task, max_train_samples=10, max_test_samples=7, seed=1)
    assert (len(small.train), len(small.dev), len(small.test)) == (10, 7, 7)
    positions = [task.train.index(ex) for ex in small.train]
    assert positions == sorted(positions) and len(set(positions)) == 10  # file order, distinct
    again = subsample_task(task, max_train_samples=10, max_test_samples=7, seed=1)
    assert again == small
    other = subsample_task(task, max_train_samples=10, max_test_samples=7, seed=2)
    assert other.train != small.train
    assert small.labels == task.labels and small.name == task.name


def test_limits_none_or_large_keep_everything() -> None:
    task = make_task()
    assert subsample_task(task) == task
    assert subsample_task(task, max_train_samples=10_000, max_test_samples=100) == task
    assert len(subsample_task(task, max_train_samples=0).train) == 0


def test_dev_limit_defaults_to_test_limit() -> None:
    task = make_task()
    assert len(subsample_task(task, max_test_samples=5).dev) == 5
    assert len(subsample_task(task, max_test_samples=5, max_dev_samples=9).dev) == 9


def test_draw_depends_on_task_not_position() -> None:
    a, b = make_task("a"), make_task("b")
    one = TaskStream((a, b)).subsample(max_train_samples=8, seed=3)
    two = TaskStream((b, a)).subsample(max_train_samples=8, seed=3)
    assert one["a"] == two["a"] and one["b"] == two["b"]


def test_balanced() -> None:
    task = make_task()
    small = subsample_task(task, max_train_samples=12, balanced=True, seed=0)
    assert Counter(ex.label for ex in small.train) == {"A": 4, "B": 4, "C": 4}
    short = subsample_task(task, max_train_samples=20, balanced=True, seed=0)
    assert Counter(ex.label for ex in short.train) == {"A": 8, "B": 8, "C": 4}
    odd = subsample_task(task, max_train_samples=13, balanced=True, seed=0)
    assert Counter(ex.label for ex in odd.train) == {"A": 5, "B": 4, "C": 4}
    plain = subsample_task(task, max_train_samples=12, seed=0)
    assert Counter(ex.label for ex in plain.train) != {"A": 4, "B": 4, "C": 4}


@pytest.mark.parametrize("bad", [-1, 1.5, "10", True])
def test_invalid_limits(bad) -> None:
    with pytest.raises(ValueError, match="max_train_samples"):
        subsample_task(make_task(), max_train_samples=bad)
