"""Deterministic micro-batch schedule: which examples each process sees at each step.

Each epoch of task ``t`` shuffles the examples with a generator seeded by ``(seed, t, epoch)``,
cuts them into micro-batches of ``batch_size`` and deals them out so that optimizer step ``s``
uses global micro-batches ``[s*G*W, (s+1)*G*W)`` (G = grad_accum, W = processes) and process ``r``
takes slot ``g`` = micro-batch ``s*G*W + g*W + r``. One process with ``grad_accum = G*W`` therefore
sees exactly the same examples per step as ``W`` processes with ``grad_accum = G``, and a resumed
run can jump straight to any step.
"""

from __future__ import annotations

import math

import numpy as np


def epoch_permutation(n: int, seed: int, task_index: int, epoch: int) -> np.ndarray:
    rng = np.random.default_rng([seed, task_index, epoch])
    return rng.permutation(n)


def micro_batches(n: int, batch_size: int, perm: np.ndarray) -> list[np.ndarray]:
    return [perm[i : i + batch_size] for i in range(0, n, batch_size)]


def steps_per_epoch(n: int, batch_size: int, grad_accum: int, world: int) -> int:
    """Optimizer steps per epoch; the last step may use fewer micro-batches (nothing is dropped)."""
    if n == 0:
        return 0
    return math.ceil(math.ceil(n / batch_size) / (grad_accum * world))


def step_slots(
    batches: list[np.ndarray], step: int, grad_accum: int, world: int, rank: int
) -> list[np.ndarray | None]:
    """The ``grad_accum`` micro-batches of this process for one step; None marks an empty slot
    (the epoch's last step ran out of data), which multi-process runs fill with a zero-weight
    pass so that every process takes part in the gradient all-reduce."""
    start = step * grad_accum * world
    slots: list[np.ndarray | None] = []
    for g in range(grad_accum):
        i = start + g * world + rank
        slots.append(batches[i] if i < len(batches) else None)
    return slots


# ---- the continuous schedule (TrainerConfig.step_schedule = "continuous") --------------------
# The epochs' micro-batches form one stream (epoch e shuffled as above); optimizer step s takes
# stream micro-batches [s*G*W, (s+1)*G*W), so micro-batches left over at an epoch's end join the
# next epoch's first step. A task has epochs * floor(micro-batches per epoch / (G*W)) steps (at
# least one per epoch), as Hugging Face's Trainer counts them (Recurrent-KIF's S).


def continuous_steps_per_epoch(n: int, batch_size: int, grad_accum: int, world: int) -> int:
    if n == 0:
        return 0
    return max(1, math.ceil(n / batch_size) // (grad_accum * world))


def continuous_slots(
    n: int,
    batch_size: int,
    seed: int,
    task_index: int,
    step: int,
    grad_accum: int,
    world: int,
    rank: int,
) -> list[np.ndarray]:
    """The ``grad_accum`` micro-batches of this process for task step ``step`` (0-based)."""
    per_epoch = math.ceil(n / batch_size)
    slots, perms = [], {}
    for g in range(grad_accum):
        j = step * grad_accum * world + g * world + rank
        epoch, b = divmod(j, per_epoch)
        if epoch not in perms:
            perms[epoch] = epoch_permutation(n, seed, task_index, epoch)
        slots.append(perms[epoch][b * batch_size : (b + 1) * batch_size])
    return slots


class TaskSchedule:
    """One task's schedule for one process: ``per_epoch`` optimizer steps per epoch and, for a
    step, the micro-batches (index arrays into the task's data) this process takes; ``None``
    marks an empty slot (see :func:`step_slots`). ``continuous`` selects the continuous
    schedule."""

    def __init__(
        self,
        n: int,
        batch_size: int,
        grad_accum: int,
        world: int,
        rank: int,
        seed: int,
        task_index: int,
        continuous: bool = False,
    ) -> None:
        self.n, self.batch_size, self.grad_accum = n, batch_size, grad_accum
        self.world, self.rank, self.seed, self.task_index = world, rank, seed, task_index
        self.continuous = continuous
        count = continuous_steps_per_epoch if continuous else steps_per_epoch
        self.per_epoch = count(n, batch_size, grad_accum, world)
        self._epoch: int | None = None
        self._batches: list[np.ndarray] = []

    def epoch_batches(self, epoch: int) -> list[np.ndarray]:
        """Every micro-batch of ``epoch`` (the shuffled order cut into ``batch_size`` pieces)."""
        if epoch != self._epoch:
            perm = epoch_permutation(self.n, self.seed, self.task_index, epoch)
            self._epoch, self._batches = epoch, micro_batches(self.n, self.batch_size, perm)
        return self._batches

    def slots(self, epoch: int, step_in_epoch: int) -> list[np.ndarray | None]:
        if self.continuous:
            step = epoch * self.per_epoch + step_in_epoch
            return list(
                continuous_slots(
                    self.n,
                    self.batch_size,
                    self.seed,
                    self.task_index,
                    step,
                    self.grad_accum,
                    self.world,
                    self.rank,
                )
            )
        batches = self.epoch_batches(epoch)
        return step_slots(batches, step_in_epoch, self.grad_accum, self.world, self.rank)
