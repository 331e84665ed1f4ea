"""ProgPrompt, AdapterCL and LFPT5 resumed from a mid-task checkpoint end exactly where the
uninterrupted run ends (LFPT5: the same pseudo rows, not regenerated, and the same teacher)."""

from __future__ import annotations

import pytest
import torch
from test_lfpt5 import bound, colour_rows, wide_llama
from test_progprompt import lm_collate, rows_of

from cl_methods import ContinualTrainer, RunInfo, TrainerConfig, TrainTask, build_method


def setup(name: str):
    """(method, model factory, tasks, collate) of a 2-task run."""
    if name == "lfpt5":
        method, tok = bound(tasks=2, gen_batch_size=4, pseudo_ratio=0.5)
        tasks = [TrainTask(name=f"task{t}", train=colour_rows(t, 8)) for t in range(2)]
        return method, lambda: wide_llama(len(tok) - 3), tasks, method.collator(24)
    opts = {"progprompt": {"num_virtual_tokens": 2, "mlp_hidden": 8}, "adaptercl": {}}[name]
    method = build_method(name, opts)
    method.bind_run(RunInfo(num_tasks=2, task_names=("task0", "task1"), scenario="TIL"))
    tasks = [
        TrainTask(name=f"task{t}", train=rows_of(2 + 10 * t, 8, seed=t), collate=lm_collate)
        for t in range(2)
    ]
    return method, lambda: wide_llama(40), tasks, lm_collate


def fit(name, tmp_path, resume=False, monkeypatch=None):
    method, make, tasks, collate = setup(name)
    cfg = TrainerConfig(
        output_dir=str(tmp_path), epochs=2, lr=1e-2, batch_size=4, seed=1, progress=False,
        checkpoint_every=1, keep_checkpoints=100,
    )  # fmt: skip
    trainer = ContinualTrainer(make(), method, cfg, collate=collate)
    if resume and monkeypatch is not None:

        def boom(*a, **k):
            raise AssertionError("a resumed task must not regenerate its pseudo samples")

        monkeypatch.setattr("cl_methods.methods.lfpt5.generate_samples", boom)
    trainer.fit(tasks, resume=resume)
    return trainer, method


@pytest.mark.parametrize("name", ["progprompt", "adaptercl", "lfpt5"])
def test_resume_mid_task_matches_the_uninterrupted_run(name, tmp_path, monkeypatch):
    trainer, method = fit(name, tmp_path)
    final = {n: p.detach().clone() for n, p in trainer.model.named_parameters()}
    root = tmp_path / "checkpoints"
    mid = sorted(p.name for p in root.glob("ckpt-*-t01-in_task"))
    assert len(mid) >= 2
    (root / "latest").write_text(mid[len(mid) // 2])  # as if killed halfway through task 1
    trainer2, method2 = fit(name, tmp_path, resume=True, monkeypatch=monkeypatch)
    for n, p in trainer2.model.named_parameters():
        assert torch.allclose(p, final[n], atol=1e-6), n
    if name == "lfpt5":
        assert method2.pseudo_rows == method.pseudo_rows
        assert method2.pseudo_stats["1"]["requested"] == 4.0  # floor(0.5 * 8) // 1
