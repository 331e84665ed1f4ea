"""In-context learning baselines (the classic codebase's ``ICL.py``; Concept-1K as one task).

Nothing trains (``trains = False``): the trainer runs only the task hooks and the evaluations,
and the results have the usual format. At each task start the task's training rows join the
demonstration pool; every evaluation row then gets ``num_demos`` (1 or 5) demonstrations
chosen by ``selection``:

- ``random``: any pool rows;
- ``same_concept``: pool rows whose ``concept_key`` field equals the query's;
- ``same_instance``: pool rows whose ``instance_key`` field equals the query's (Concept-1K: the
  training question of the same fact); a group smaller than ``num_demos`` gives all it has.

Draws are without replacement, seeded by ``seed`` and the row's position, so an evaluation is
deterministic. The rows are returned as copies with a ``demos`` field (a list of
``{"input", "target"}``); the app's prompt builder renders demonstrations + query (a method never
formats text), and a generated answer ends at ``eval_stop`` (a newline) besides eos.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from torch import nn

from ..method import Method, MethodConfig, TaskContext
from ..registry import register_method
from ..replay import field_of

SELECTIONS = ("random", "same_concept", "same_instance")


@dataclass
class ICLConfig(MethodConfig):
    num_demos: int = field(default=1, metadata={"help": "demonstrations per query (1 or 5)"})
    selection: Literal["random", "same_concept", "same_instance"] = field(
        default="random", metadata={"help": "random, same_concept or same_instance"}
    )
    concept_key: str = field(
        default="concept_id", metadata={"help": "row field naming its concept"}
    )
    instance_key: str = field(
        default="instance_id", metadata={"help": "row field naming its instance"}
    )
    seed: int = field(default=1, metadata={"help": "seed of the demonstration draws"})

    def __post_init__(self) -> None:
        if self.num_demos < 1:
            raise ValueError(f"num_demos must be >= 1, got {self.num_demos}")
        if self.selection not in SELECTIONS:
            raise ValueError(f"selection must be one of {SELECTIONS}, got {self.selection!r}")


@register_method("icl")
class ICL(Method):
    config_class = ICLConfig
    config: ICLConfig
    trains = False
    eval_stop = "\n"

    def __init__(self, config: ICLConfig | None = None) -> None:
        super().__init__(config)
        self.pool: list[Any] = []
        self._groups: dict[tuple[str, Any], list[int]] = {}

    def on_task_start(self, task: TaskContext, model: nn.Module) -> None:
        super().on_task_start(task, model)
        self.add_demonstrations(task.train_data or [])

    def add_demonstrations(self, rows: Sequence[Any]) -> None:
        for row in rows:
            index = len(self.pool)
            self.pool.append(row)
            for key in (self.config.concept_key, self.config.instance_key):
                if _has(row, key):
                    self._groups.setdefault((key, field_of(row, key)), []).append(index)

    def candidates(self, row: Any) -> list[int]:
        """Pool positions a demonstration for ``row`` may come from."""
        cfg = self.config
        if cfg.selection == "random":
            return list(range(len(self.pool)))
        key = cfg.concept_key if cfg.selection == "same_concept" else cfg.instance_key
        return list(self._groups.get((key, field_of(row, key)), []))

    def demonstrations(self, row: Any, position: int) -> list[dict[str, Any]]:
        pool = self.candidates(row)
        rng = random.Random(f"{self.config.seed}/{position}")
        picked = rng.sample(pool, min(self.config.num_demos, len(pool)))
        return [
            {"input": field_of(self.pool[i], "input"), "target": field_of(self.pool[i], "target")}
            for i in picked
        ]

    def eval_examples(self, task_name: str, examples: Sequence[Any]) -> Sequence[Any]:
        if not self.pool:
            raise ValueError("ICL: no demonstration pool (no task has started)")
        return [{**row, "demos": self.demonstrations(row, i)} for i, row in enumerate(examples)]

    def state_dict(self) -> dict[str, Any]:
        return {"pool": list(self.pool)}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.pool, self._groups = [], {}
        self.add_demonstrations(state.get("pool", []))


def _has(row: Any, key: str) -> bool:
    return key in row if isinstance(row, dict) else hasattr(row, key)
