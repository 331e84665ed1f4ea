"""MTL (joint training) with per-task heads: every head is in play during the one joint task, so
CIL logits span every class, every head trains, and each task is scored from the single row."""

from __future__ import annotations

import json

import pytest
import torch
from safetensors.torch import load_file


@pytest.mark.parametrize("scenario", ["CIL", "TIL"])
def test_mtl_with_heads_trains_every_head_jointly(
    run_cl, colour_dir, write_yaml, tmp_path, scenario
):
    path = write_yaml(
        f"method: mtl\nscenario: {scenario}\n"
        "method_config: {targets: [query, value], train_also: [heads], train_also_lr: 0.05}\n"
        "backbone: {model: tiny-bert, kind: encoder, head: linear, max_length: 16}\n"
        f"data: {{name: dir, dir: {colour_dir}}}\n"
        "trainer: {epochs: 2, lr: 1.0e-3, batch_size: 4, progress: false}\n"
    )
    out = tmp_path / "mtl"
    argv = ["--config", str(path), "--output_dir", str(out)]
    trainer, _ = run_cl.build_run(run_cl.load_config(argv))  # the same seed: the initial heads
    start = {k: v.detach().clone() for k, v in trainer.model.state_dict().items() if "heads" in k}
    assert run_cl.main(argv) == 0
    rows = json.loads((out / "results.json").read_text())["matrix"]
    # one joint row: every task scored after training on all of them, nothing after
    assert all(v is not None for v in rows[0]) and all(v is None for r in rows[1:] for v in r)
    # every head moved (before the fix the joint task ran with task 0's head only: CIL labels of
    # the later tasks were out of its range, and in TIL no loss reached heads 1 and 2)
    (ckpt,) = (out / "checkpoints").glob("ckpt-*-task_done")
    end = load_file(ckpt / "model.safetensors")
    assert len(start) == 6  # 3 tasks x (weight, bias)
    for name, before in start.items():
        assert not torch.equal(end[name], before), f"{name} did not train"
