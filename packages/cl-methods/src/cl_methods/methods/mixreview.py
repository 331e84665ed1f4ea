"""Mix-review for CKL (spec §9, decision D6).

Each micro-batch holds its n training documents plus floor(n * r) replay documents (r = 1). Replay
records come from an explicit list of JSON-lines files (not "every file in a folder"); the replay
order is shuffled with a generator reseeded at every task (period) and cycles when exhausted; an
epoch ends with the training data. Replay records are collated with the task's ``collate``, so
they must have the training records' layout (LAMA-ckl: the ``evidence`` records of
``invariant_descriptive.jsonl``; TemporalWiki: ``{"text"}`` documents of the Aug-2021 snapshot).
"""

from __future__ import annotations

import json
import math
import random
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from ..method import TaskContext
from ..registry import register_method
from ..taalm.ckl_method import CklConfig, CklMethod

PAD_VALUES = {"attention_mask": 0, "labels": -100, "object_mask": 0}


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


def concat_padded(a: dict[str, Any], b: dict[str, Any], pad_token_id: int) -> dict[str, Any]:
    """Stack two right-padded batches along the batch axis, padding the shorter on the right
    (input_ids with ``pad_token_id``, attention_mask/object_mask with 0, labels with -100)."""
    if set(a) != set(b):
        raise KeyError(f"batches have different keys: {sorted(a)} vs {sorted(b)}")
    out: dict[str, Any] = {}
    for key, x in a.items():
        y = b[key]
        if isinstance(x, torch.Tensor):
            if x.dim() >= 2 and x.shape[1] != y.shape[1]:
                pad = pad_token_id if key == "input_ids" else PAD_VALUES.get(key, 0)
                width = max(x.shape[1], y.shape[1])
                x = torch.nn.functional.pad(
                    x, (0, 0) * (x.dim() - 2) + (0, width - x.shape[1]), value=pad
                )
                y = torch.nn.functional.pad(
                    y, (0, 0) * (y.dim() - 2) + (0, width - y.shape[1]), value=pad
                )
            out[key] = torch.cat([x, y.to(x.device)], dim=0)
        elif isinstance(x, list):
            out[key] = x + list(y)
        else:
            raise TypeError(f"cannot concatenate batch field {key!r} of type {type(x).__name__}")
    return out


class ReplayStream:
    """Cycles through the replay records in a shuffled order; reshuffles on each pass."""

    def __init__(self, records: Sequence[Any], seed: int) -> None:
        if not records:
            raise ValueError("mix-review needs at least one replay record")
        self.records = list(records)
        self.rng = random.Random(seed)
        self.order: list[int] = []
        self.pos = 0

    def take(self, k: int) -> list[Any]:
        out = []
        for _ in range(k):
            if self.pos >= len(self.order):
                self.order = list(range(len(self.records)))
                self.rng.shuffle(self.order)
                self.pos = 0
            out.append(self.records[self.order[self.pos]])
            self.pos += 1
        return out


@dataclass
class MixReviewConfig(CklConfig):
    """replay_files: explicit JSON-lines files; replay_ratio r: floor(n r) replay documents per
    n training documents; seed: replay shuffling, reseeded at every task."""

    replay_files: tuple[str, ...] = ()
    replay_ratio: float = 1.0
    seed: int = 42
    pad_token_id: int = 0


@register_method("mixreview")
class MixReview(CklMethod):
    config_class = MixReviewConfig

    def __init__(self, config: MixReviewConfig | None = None) -> None:
        super().__init__(config)
        self.replay_records: list[Any] | None = None
        self.stream: ReplayStream | None = None

    def set_replay_records(self, records: Sequence[Any]) -> None:
        """Replay records given directly (instead of ``replay_files``)."""
        self.replay_records = list(records)

    def on_task_start(self, task: TaskContext, model: Any) -> None:
        super().on_task_start(task, model)
        if self.replay_records is None:
            if not self.config.replay_files:
                raise ValueError("mixreview needs replay_files (or set_replay_records)")
            self.replay_records = read_replay_files(self.config.replay_files)
        self.stream = ReplayStream(self.replay_records, self.config.seed)

    def mix(self, batch: dict[str, Any], collate: Any) -> dict[str, Any]:
        n = int(batch["input_ids"].shape[0])
        k = math.floor(n * self.config.replay_ratio)
        if k == 0:
            return batch
        assert self.stream is not None
        replay = collate(self.stream.take(k))
        return concat_padded(dict(batch), dict(replay), self.config.pad_token_id)

    def wrap_train_batches(self, task: TaskContext, batches: Iterable[Any]) -> Iterator[Any]:
        if task.collate is None:
            raise ValueError("mixreview needs the task's collate function to batch replay records")
        if self.stream is None:
            self.on_task_start(task, None)
        for batch in batches:
            yield self.mix(batch, task.collate)

    def state_dict(self) -> dict[str, Any]:
        if self.stream is None:
            return {}
        s = self.stream
        return {"rng": s.rng.getstate(), "order": list(s.order), "pos": s.pos}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if not state:
            return
        if self.stream is None:
            raise RuntimeError("mixreview: call on_task_start before load_state_dict")
        self.stream.rng.setstate(state["rng"])
        self.stream.order, self.stream.pos = list(state["order"]), int(state["pos"])
