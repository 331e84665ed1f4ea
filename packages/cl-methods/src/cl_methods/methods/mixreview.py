"""Mix-review for CKL (spec §9, decision D6).

Each micro-batch holds its n training documents plus floor(n * r) replay documents (r = 1), added
to the raw examples in :meth:`MixReview.batch_examples` before the task's collate, so replay
records must have the training records' layout (the apps use ``{"text": ...}`` documents:
LAMA-ckl: the ``evidence`` of ``invariant_descriptive.jsonl``; TemporalWiki: the Aug-2021 snapshot).
Replay records come from an explicit list of JSON-lines files (not "every file in a folder"), or
from any sequence given to :meth:`MixReview.set_replay_records` (it may be lazy: only ``len`` and
indexing are used).

The replay stream is cycled and reshuffled: pass p of task (period) t visits the records in the
permutation seeded by ``(seed, t, p)``, so every period reshuffles and a resumed run draws exactly
what an uninterrupted one would. The stream position is the method's state. Under the continual
trainer every micro-batch reserves a block of floor(batch_size * r) stream positions per process
(process k takes block ``position + k``); a shorter last micro-batch uses the start of its block.
An epoch ends with the training data.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..method import TaskContext
from ..registry import register_method
from ..taalm.ckl_method import CklConfig, CklMethod


def read_replay_files(paths: Sequence[str]) -> list[dict[str, Any]]:
    """All records of the listed JSON-lines files, in order."""
    records: list[dict[str, Any]] = []
    for path in paths:
        p = Path(path)
        if not p.is_file():
            raise FileNotFoundError(f"mix-review replay file not found: {p}")
        with p.open(encoding="utf-8") as f:
            for row, line in enumerate(f):
                if not line.strip():
                    continue
                try:
                    records.append(json.loads(line))
                except json.JSONDecodeError as err:
                    raise ValueError(f"{p}, row {row}: invalid JSON ({err.msg})") from err
    return records


class ReplayStream:
    """Positions 0, 1, 2, ... of a cycled replay order: position q lies in pass q // N, where
    pass p of task t is the permutation of the N records seeded by ``(seed, t, p)``."""

    def __init__(self, size: int, seed: int, task_index: int) -> None:
        if size <= 0:
            raise ValueError("mix-review needs at least one replay record")
        self.size, self.seed, self.task_index = size, seed, task_index
        self._pass = -1
        self._order: np.ndarray | None = None

    def order(self, pass_index: int) -> np.ndarray:
        if pass_index != self._pass:
            rng = np.random.default_rng([self.seed, self.task_index, pass_index])
            self._order, self._pass = rng.permutation(self.size), pass_index
        assert self._order is not None
        return self._order

    def indices(self, start: int, count: int) -> list[int]:
        """Record indices at stream positions ``start .. start + count - 1``."""
        out = []
        for q in range(start, start + count):
            out.append(int(self.order(q // self.size)[q % self.size]))
        return out


@dataclass
class MixReviewConfig(CklConfig):
    """replay_files: explicit JSON-lines files; replay_ratio r: floor(n r) replay documents per
    n training documents; seed: the replay order (reshuffled per period and per pass)."""

    replay_files: tuple[str, ...] = field(
        default=(),
        metadata={
            "help": "JSON-lines files of replay documents (apps give them with --replay-files)"
        },
    )
    replay_ratio: float = field(
        default=1.0, metadata={"help": "replay documents per training document (paper 1)"}
    )
    seed: int = field(
        default=42, metadata={"help": "seed of the replay order (reshuffled per period and pass)"}
    )

    def __post_init__(self) -> None:
        if self.replay_ratio < 0:
            raise ValueError(f"replay_ratio must be >= 0, got {self.replay_ratio}")


def _block_size(task: TaskContext, n: int, ratio: float) -> int:
    """Stream positions one micro-batch reserves: from the task's micro-batch size when the
    trainer gives it, else this batch's own replay count."""
    size = task.batch_size if task.batch_size is not None else n
    return math.floor(size * ratio)


@register_method("mixreview")
class MixReview(CklMethod):
    config_class = MixReviewConfig

    def __init__(self, config: MixReviewConfig | None = None) -> None:
        super().__init__(config)
        self.replay_records: Sequence[Any] | None = None
        self.stream: ReplayStream | None = None
        self.position = 0  # stream positions used in the current task (same on every process)
        self._task_index: int | None = None

    def replay_ratio(self) -> float:
        return self.config.replay_ratio

    def set_replay_records(self, records: Sequence[Any]) -> None:
        """Replay records given directly (instead of ``replay_files``); kept as given, so a lazy
        sequence stays lazy."""
        self.replay_records = records

    def _records(self) -> Sequence[Any]:
        if self.replay_records is None:
            if not self.config.replay_files:
                raise ValueError("mixreview needs replay_files (or set_replay_records)")
            self.replay_records = read_replay_files(self.config.replay_files)
        return self.replay_records

    def _start_stream(self, task: TaskContext) -> None:
        self.stream = ReplayStream(len(self._records()), self.config.seed, task.index)
        self._task_index = task.index

    def on_task_start(self, task: TaskContext, model: Any) -> None:
        super().on_task_start(task, model)
        self._start_stream(task)
        self.position = 0

    def on_task_resume(self, task: TaskContext, model: Any) -> None:
        """Keep the stream position restored by :meth:`load_state_dict`."""
        if self._task_index is not None and self._task_index != task.index:
            raise ValueError(
                f"mixreview state belongs to task {self._task_index}, resuming task {task.index}"
            )
        self.task = task
        self._start_stream(task)

    def batch_examples(self, task: TaskContext, examples: list[Any]) -> list[Any]:
        n = len(examples)
        k = math.floor(n * self.config.replay_ratio)
        if self.stream is None or self._task_index != task.index:
            raise RuntimeError("mixreview: on_task_start must run before batch_examples")
        block = max(_block_size(task, n, self.config.replay_ratio), k)
        start = self.position + task.rank * block
        self.position += task.world_size * block
        records = self._records()
        return list(examples) + [records[i] for i in self.stream.indices(start, k)]

    def state_dict(self) -> dict[str, Any]:
        if self._task_index is None:
            return {}
        return {"task": self._task_index, "position": self.position}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if not state:
            return
        self._task_index, self.position = int(state["task"]), int(state["position"])
