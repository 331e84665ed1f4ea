"""The trainer's continuous step schedule (Recurrent-KIF's S and leftover micro-batches)."""

import numpy as np

from cl_methods import build_method
from cl_methods.trainer.schedule import (
    continuous_slots,
    continuous_steps_per_epoch,
    epoch_permutation,
)


def test_steps_and_leftovers_join_the_next_epoch():
    # 25 examples, micro-batch 5, GA 2: 5 micro-batches per epoch -> 2 steps per epoch
    assert continuous_steps_per_epoch(25, 5, 2, 1) == 2
    assert continuous_steps_per_epoch(1000, 2, 4, 1) == 125  # T5: 1250 steps in 10 epochs
    assert continuous_steps_per_epoch(250, 2, 4, 1) == 31  # CB: 125 micro-batches, 1 left over
    assert continuous_steps_per_epoch(1000, 16, 4, 1) == 15  # LLaMA: 150 steps in 10 epochs
    p0, p1 = epoch_permutation(25, 3, 1, 0), epoch_permutation(25, 3, 1, 1)
    step2 = continuous_slots(25, 5, 3, 1, step=2, grad_accum=2, world=1, rank=0)
    assert np.array_equal(step2[0], p0[20:25]) and np.array_equal(step2[1], p1[0:5])
    two = [continuous_slots(25, 5, 3, 1, 2, 1, 2, r)[0] for r in (0, 1)]  # 2 ranks x GA 1
    assert np.array_equal(two[0], step2[0]) and np.array_equal(two[1], step2[1])


def test_trainer_runs_epochs_times_floor_steps(tiny, tmp_path):
    seen = []

    method = build_method("seqlora", {"dropout": 0.0, "r": 2})
    method.batch_examples = lambda task, rows: seen.append([r["id"] for r in rows]) or rows
    _trainer, result = tiny.run(tmp_path, method, k=1, n=25, epochs=3, step_schedule="continuous")
    assert result.train_stats[0]["steps"] == 6 and len(seen) == 12  # 3 x floor(5 / 2), 2 each
    p1 = epoch_permutation(25, 3, 0, 1)
    assert seen[4] == [f"0_{i}" for i in epoch_permutation(25, 3, 0, 0)[20:25]]
    assert seen[5] == [f"0_{i}" for i in p1[0:5]]
    _, default = tiny.run(tmp_path / "epoch", build_method("seqlora"), k=1, n=25, epochs=3)
    assert default.train_stats[0]["steps"] == 9  # the default schedule: ceil(5 / 2) per epoch
