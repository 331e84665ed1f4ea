"""Replay buffers: quotas, trimming, random and herding selection, ratio buffer, mixing, state."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from cl_methods.method import TaskContext
from cl_methods.replay import (
    ClassBalancedBuffer,
    RatioBuffer,
    Replay,
    ReplayOptions,
    concat_batches,
    first_per_class,
    herding_select,
)


def rows(task: int, classes: list[int], per_class: int) -> list[dict]:
    return [
        {"input": f"t{task} c{c} #{i}", "target": f"name {c}", "label_idx_cil": c}
        for c in classes
        for i in range(per_class)
    ]


def test_quotas_follow_m_over_accum_and_size_stays_below_m() -> None:
    buf = ClassBalancedBuffer(10, seed=3)
    data0 = rows(0, [0, 1, 2], 6)
    buf.update(data0, [r["label_idx_cil"] for r in data0], task_index=0)
    assert buf.class_counts() == {0: 3, 1: 3, 2: 3}  # floor(10 / 3)
    data1 = rows(1, [3, 4], 6)
    before = [x for x, c in zip(buf.items, buf.item_classes) if c == (0,)]
    buf.update(data1, [r["label_idx_cil"] for r in data1], task_index=1)
    assert buf.class_counts() == {c: 2 for c in range(5)}  # floor(10 / 5)
    assert len(buf) <= 10
    # old classes were trimmed by dropping their newest items first
    assert [x for x, c in zip(buf.items, buf.item_classes) if c == (0,)] == before[:2]
    # ACCUM given by the scenario wins over the distinct labels seen
    buf2 = ClassBalancedBuffer(12)
    buf2.update(data0, [r["label_idx_cil"] for r in data0], num_seen_classes=4)
    assert set(buf2.class_counts().values()) == {3}


def test_fixed_budget_per_class() -> None:
    buf = ClassBalancedBuffer(20, fixed_budget_per_class=True, num_class=10)
    data = rows(0, [0, 1], 5)
    buf.update(data, [r["label_idx_cil"] for r in data])
    assert buf.class_counts() == {0: 2, 1: 2}
    with pytest.raises(ValueError, match="num_class"):
        ClassBalancedBuffer(20, fixed_budget_per_class=True)


def test_random_selection_takes_the_first_met_in_a_seeded_shuffle() -> None:
    import random

    data = rows(0, [0, 1], 8)
    labels = [r["label_idx_cil"] for r in data]
    buf = ClassBalancedBuffer(4, seed=5)
    buf.update(data, labels, task_index=2)
    order = list(range(16))
    random.Random("5/2").shuffle(order)
    expected = [i for i in order if labels[i] == 0][:2] + [i for i in order if labels[i] == 1][:2]
    assert sorted(buf.items, key=lambda r: r["input"]) == sorted(
        (data[i] for i in expected), key=lambda r: r["input"]
    )
    again = ClassBalancedBuffer(4, seed=5)
    again.update(data, labels, task_index=2)
    assert again.items == buf.items


def test_word_level_sentence_counts_for_each_class() -> None:
    classes = [(0, 1), (0,), (1,), (0, 1), (2,)]
    assert first_per_class(range(5), classes, quota=1, wanted={0, 1, 2}) == [0, 4]
    assert first_per_class(range(5), classes, quota=2, wanted={0, 1, 2}) == [0, 1, 2, 4]


def test_herding_picks_points_nearest_the_mean_first() -> None:
    feats = torch.tensor(
        [[1.0, 0.0], [0.0, 1.0], [0.7071, 0.7071], [0.6, 0.8], [-1.0, 0.0]], dtype=torch.float32
    )
    f = torch.nn.functional.normalize(feats, dim=1)
    mu = f.mean(0)
    first = int(torch.argmin(torch.linalg.vector_norm(f - mu, dim=1)))
    order = herding_select(feats, 5)
    assert order[0] == first
    assert sorted(order) == [0, 1, 2, 3, 4]
    # second pick minimises ||mu - (f_first + f) / 2||
    d2 = torch.linalg.vector_norm(mu - (f[first] + f) / 2, dim=1)
    d2[first] = float("inf")
    assert order[1] == int(torch.argmin(d2))
    # scale does not matter (features are L2-normalised)
    assert herding_select(feats * torch.tensor([[3.0], [1], [2], [5], [1]]), 5) == order


def test_herding_buffer_uses_features_per_class() -> None:
    data = rows(0, [0, 1], 3)
    labels = [r["label_idx_cil"] for r in data]
    feats = torch.tensor([[1, 0], [1, 0.1], [0, 1], [0, 1], [1, 1], [1, 0.9]], dtype=torch.float)
    buf = ClassBalancedBuffer(2, selection="herding")
    buf.update(data, labels, features=feats)
    picked0 = herding_select(feats[:3], 1)[0]
    picked1 = 3 + herding_select(feats[3:], 1)[0]
    assert buf.items == [data[picked0], data[picked1]]
    with pytest.raises(ValueError, match="needs features"):
        ClassBalancedBuffer(2, selection="herding").update(data, labels)


def test_ratio_buffer_items_are_unique_and_counted() -> None:
    buf = RatioBuffer(0.1, seed=1)
    data = [{"input": f"x{i}", "target": f"y{i}"} for i in range(57)]
    buf.update(data, task_index=0)
    assert len(buf) == 5  # floor(0.1 * 57)
    data1 = [{"input": f"z{i}", "target": ""} for i in range(20)]
    buf.update(data1, task_index=1)
    assert len(buf) == 7
    assert len({r["input"] for r in buf.items}) == 7


def context(index: int, data, **fields) -> TaskContext:
    return TaskContext(index=index, name=f"t{index}", train_data=data, **fields)


def test_batch_level_mix_has_b_rows_and_keeps_strings() -> None:
    opts = ReplayOptions(replay=True, replay_buffer_size=6, replay_seed=2)
    replay = Replay(opts)
    data0 = rows(0, [0, 1], 4)
    ctx0 = context(0, data0)
    assert replay.batch_examples(ctx0, data0[:2]) == data0[:2]  # task 0: nothing to replay
    replay.end_task(ctx0, model=None)
    data1 = rows(1, [2, 3], 4)
    ctx1 = context(1, data1)
    new = data1[:2]  # the trainer runs with B/2 = 2
    mixed = replay.batch_examples(ctx1, new)
    assert len(mixed) == 4 and mixed[:2] == new
    assert all(isinstance(r["input"], str) and r in replay.buffer.items for r in mixed[2:])
    # draws are keyed by a counter kept in the state: a restored component repeats them
    state = replay.state_dict()
    nxt = replay.batch_examples(ctx1, new)
    other = Replay(opts)
    other.load_state_dict(state)
    assert other.batch_examples(ctx1, new) == nxt
    # dataset-level replay appends the buffer instead
    flat = Replay(ReplayOptions(replay=True, replay_batch_level=False, replay_buffer_size=6))
    flat.end_task(ctx0, model=None)
    assert flat.task_train_data(ctx1, data1) == data1 + flat.buffer.items
    assert flat.batch_examples(ctx1, new) == new


def test_concat_batches_pads_tensors_and_joins_strings() -> None:
    a = {"input_ids": torch.tensor([[5, 6, 7]]), "text": ["a"]}
    b = {"input_ids": torch.tensor([[8, 9], [1, 2]]), "text": ["b", "c"]}
    out = concat_batches(a, b, pad_values={"input_ids": 0}, padding_side="left")
    assert out["input_ids"].tolist() == [[5, 6, 7], [0, 8, 9], [0, 1, 2]]
    assert out["text"] == ["a", "b", "c"]
    with pytest.raises(ValueError, match="different keys"):
        concat_batches(a, {"input_ids": b["input_ids"]})


def test_buffer_state_round_trip() -> None:
    buf = ClassBalancedBuffer(6)
    data = rows(0, [0, 1], 5)
    buf.update(data, [r["label_idx_cil"] for r in data])
    other = ClassBalancedBuffer(6)
    other.load_state_dict(buf.state_dict())
    assert other.items == buf.items and other.item_classes == buf.item_classes
    rng = np.random.default_rng(0)
    assert len(other.sample(3, rng)) == 3
