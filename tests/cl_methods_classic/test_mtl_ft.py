"""mtl_ft: joint full fine-tuning, the upper bound of the full fine-tuning family."""

from __future__ import annotations

from pathlib import Path

import torch
from classic_tiny import heads_model, heads_tasks, trainer

from cl_methods import build_method


def test_mtl_ft_trains_every_weight_on_the_union_once(tmp_path: Path) -> None:
    method = build_method("mtl_ft")
    assert method.joint_training
    model = heads_model()
    before = {k: v.detach().clone() for k, v in model.state_dict().items()}
    starts: list[int] = []
    original = method.on_task_start

    def on_task_start(task, m):
        original(task, m)
        starts.append(task.index)

    method.on_task_start = on_task_start
    result = trainer(model, method, tmp_path, lambda m, t, a: 0.5).fit(heads_tasks())
    assert starts == [0] and len(result.train_stats) == 1  # one joint task
    assert len(result.matrix) == 1 and len(result.matrix[0]) == 2  # one row, every task scored
    changed = {k for k, v in model.state_dict().items() if not torch.equal(v, before[k])}
    assert any(k.startswith("backbone.") for k in changed)  # the encoder trained
    assert {"heads.0.weight", "heads.1.weight"} <= changed  # and both tasks' heads
