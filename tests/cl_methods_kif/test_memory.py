"""The class-stratified memory buffer (2% per earlier task, seeded)."""

from collections import Counter

import numpy as np
import torch

from cl_methods.memory import MemoryBuffer, default_class_key, memory_size, stratified_indices


def rows(task, n, classes):
    return [{"id": f"{task}_{i}", "output": classes[i % len(classes)]} for i in range(n)]


def test_sizes_per_task():
    assert memory_size(1000, 2) == 20 and memory_size(250, 2) == 5 and memory_size(400, 2) == 8
    buf = MemoryBuffer(2.0, 42)
    assert len(buf.add_task("cb", rows("cb", 250, ["entailment", "contradiction", "neutral"]))) == 5
    assert len(buf.add_task("copa", rows("copa", 400, ["A", "B"]))) == 8
    assert len(buf.add_task("agnews", rows("agnews", 1000, list("abcd")))) == 20
    assert len(buf) == 33


def test_classes_present_up_to_k_and_shortfall_from_the_rest():
    data = rows("copa", 400, ["A", "B"])
    idx = stratified_indices([r["output"] for r in data], 2.0, np.random.default_rng(0))
    assert Counter(data[i]["output"] for i in idx) == {"A": 4, "B": 4}
    cb = rows("cb", 250, ["e", "c", "n"])  # k = 1 per class, 2 more from the rest
    idx = stratified_indices([r["output"] for r in cb], 2.0, np.random.default_rng(0))
    assert len(idx) == len(set(idx)) == 5
    assert set(cb[i]["output"] for i in idx) == {"e", "c", "n"}
    skewed = [{"output": "rare"}] + [{"output": "big"}] * 999
    idx = stratified_indices([r["output"] for r in skewed], 2.0, np.random.default_rng(0))
    assert 0 in idx and len(idx) == 20  # the one-example class is kept, the shortfall filled
    many = [{"output": str(i)} for i in range(60)]  # C = 60 > m = 1: all C kept
    assert len(stratified_indices([r["output"] for r in many], 2.0, np.random.default_rng(0))) == 60


def test_same_seed_same_ids_and_earlier_samples_are_stable():
    tasks = [(f"t{k}", rows(f"t{k}", 1000, list("xyz"))) for k in range(3)]
    a = MemoryBuffer.build(tasks[:2], 2.0, 42)
    b = MemoryBuffer.build(tasks, 2.0, 42)
    assert [r["id"] for r in a.rows] == [r["id"] for r in b.rows][:40]  # t1's buffer inside t2's
    c = MemoryBuffer.build(tasks, 2.0, 42)
    assert [r["id"] for r in b.rows] == [r["id"] for r in c.rows]
    d = MemoryBuffer.build(tasks, 2.0, 7)
    assert [r["id"] for r in b.rows] != [r["id"] for r in d.rows]
    assert all(r["id"].startswith(name) for name, rs in zip(b.task_names, b.task_rows) for r in rs)


def test_state_dict_round_trip_continues_the_same_draws():
    tasks = [(f"t{k}", rows(f"t{k}", 500, list("ab"))) for k in range(3)]
    full = MemoryBuffer.build(tasks, 2.0, 42)
    half = MemoryBuffer.build(tasks[:2], 2.0, 42)
    restored = MemoryBuffer()
    restored.load_state_dict(half.state_dict())
    restored.add_task(*tasks[2])
    assert [r["id"] for r in restored.rows] == [r["id"] for r in full.rows]


def test_sampling_without_replacement_and_small_buffers_used_whole():
    buf = MemoryBuffer.build([("t", rows("t", 1000, list("ab")))], 2.0, 42)
    gen = torch.Generator().manual_seed(0)
    batch = buf.sample(8, gen)
    assert len(batch) == 8 and len({r["id"] for r in batch}) == 8
    whole = buf.sample(64, gen)
    assert sorted(r["id"] for r in whole) == sorted(r["id"] for r in buf.rows)


def test_class_keys():
    assert default_class_key({"output": "yes"}) == "yes"
    assert default_class_key({"labels": [-100, -100, 5, 1]}) == (5, 1)
    assert default_class_key({"source": "x", "target": "warm"}) == "warm"
