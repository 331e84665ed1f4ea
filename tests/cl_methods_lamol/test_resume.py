"""A LAMOL_KD / L2KD run resumed from a mid-task checkpoint ends exactly where the uninterrupted
run ends: the pseudo set and the teacher travel in the checkpoint (nothing is drawn or trained
again)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from lamol_tiny import rows, tiny_llama

from cl_methods import ContinualTrainer, RunInfo, TrainerConfig, TrainTask, build_method
from cl_methods.generative_replay import GenerativeReplay


def run(tmp_path: Path, name: str, resume: bool):
    model, tok = tiny_llama(seed=0)
    method = build_method(name, {"max_length": 40})
    method.bind_run(RunInfo(2, ("t0", "t1"), tokenizer=tok))
    collate = method.collator()
    tasks = [TrainTask(f"t{i}", rows(8, c, 10 * i), collate) for i, c in enumerate(("red", "blue"))]
    cfg = TrainerConfig(
        output_dir=str(tmp_path), epochs=2, lr=1e-2, batch_size=4, progress=False,
        checkpoint_every=1, keep_checkpoints=100, seed=3,
    )  # fmt: skip
    ContinualTrainer(model, method, cfg).fit(tasks, resume=resume)
    return model, method


@pytest.mark.parametrize("name", ["lamol_kd", "l2kd"])
def test_resume_mid_task_matches_uninterrupted_run(tmp_path, monkeypatch, name):
    monkeypatch.setattr(  # every sample parses, so task 1 has pseudo rows to distil on
        "cl_methods.generative_replay.pseudo.parse_lamol", lambda ids, *a: (str(ids[:3]), "red")
    )
    model, method = run(tmp_path, name, resume=False)
    final = {n: p.detach().clone() for n, p in model.named_parameters()}
    pseudo = method.replay.pseudo_rows
    assert len(pseudo) == 1 and method.replay.pseudo_task == 1  # floor(0.2 * 8)
    root = tmp_path / "checkpoints"
    mid = sorted(p.name for p in root.glob("ckpt-*-t01-in_task"))
    assert len(mid) >= 4
    (root / "latest").write_text(mid[len(mid) // 2])

    def no_draws(self, task, data):
        raise AssertionError("a resumed task must not draw new pseudo samples")

    monkeypatch.setattr(GenerativeReplay, "generate", no_draws)
    if name == "l2kd":
        monkeypatch.setattr(
            type(method), "train_teacher", lambda *a: pytest.fail("the teacher is retrained")
        )
    model2, method2 = run(tmp_path, name, resume=True)
    assert method2.replay.pseudo_rows == pseudo
    for n, p in model2.named_parameters():
        assert torch.allclose(p, final[n], atol=1e-6), n
