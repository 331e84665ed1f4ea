"""A run of EWC + batch-level replay resumed from a mid-task checkpoint ends exactly where the
uninterrupted run ends: the Fisher, anchors, buffer and replay draws travel in the checkpoints."""

from __future__ import annotations

from pathlib import Path

import torch
from classic_tiny import tasks, tiny_llama, trainer

from cl_methods import build_method

OPTIONS = {"ewc_lambda": 100.0, "replay": True, "replay_buffer_size": 8, "replay_seed": 4}


def test_resume_mid_task_matches_uninterrupted_run(tmp_path: Path) -> None:
    method = build_method("ewc", OPTIONS)
    model = tiny_llama()
    trainer(model, method, tmp_path, checkpoint_every=1, keep_checkpoints=100).fit(tasks())
    final = {n: p.detach().clone() for n, p in model.named_parameters()}
    root = tmp_path / "checkpoints"
    mid = sorted(p.name for p in root.glob("ckpt-*-t01-in_task"))
    assert len(mid) >= 4
    (root / "latest").write_text(mid[len(mid) // 2])  # as if killed halfway through task 1

    method2 = build_method("ewc", OPTIONS)
    model2 = tiny_llama(seed=1)  # other initial weights: everything must come from the checkpoint
    trainer(model2, method2, tmp_path, checkpoint_every=1, keep_checkpoints=100).fit(
        tasks(), resume=True
    )
    for n, p in model2.named_parameters():
        assert torch.allclose(p, final[n], atol=1e-6), n
    assert method2.replay.draws == method.replay.draws > 0
    assert method2.replay.buffer.items == method.replay.buffer.items
    for n, f in method.ewc.fisher.items():
        assert torch.allclose(method2.ewc.fisher[n], f, atol=1e-7)
        assert torch.allclose(method2.ewc.anchors[n], method.ewc.anchors[n], atol=1e-6)
