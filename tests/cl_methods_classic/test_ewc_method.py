"""The ``ewc`` method end to end on a tiny causal LM under the ContinualTrainer: the Fisher and
anchors carried between tasks, the penalty once per optimizer step, replay composition,
frozen parameters, checkpoint state."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from classic_tiny import collate, tasks, tiny_llama, trainer

from cl_methods import build_method
from cl_methods.ewc import empirical_fisher, fisher_merge
from cl_methods.state_io import load_state


def fisher_now(model, rows, batch_size) -> list[torch.Tensor]:
    params = [p for p in model.parameters() if p.requires_grad]
    was = model.training
    model.eval()
    with torch.enable_grad():
        out = empirical_fisher(
            params, rows, collate, lambda b: model(**b).loss, batch_size=batch_size, progress=False
        )
    model.train(was)
    return out


def test_fisher_and_anchors_carried_between_tasks(tmp_path: Path) -> None:
    stream = tasks()
    method = build_method("ewc", {"ewc_lambda": 1.0})
    seen: list[dict] = []

    def evaluate(model, task, accelerator):
        row = len(seen)
        if task.name == f"task{row}":  # once per row: the task just trained
            seen.append(
                {
                    "fisher": {n: f.clone() for n, f in method.ewc.fisher.items()},
                    "anchors": {n: a.clone() for n, a in method.ewc.anchors.items()},
                    "weights": {n: p.detach().clone() for n, p in model.named_parameters()},
                    "expected": fisher_now(model, stream[row].train, 2),
                }
            )
        return 0.0

    model = tiny_llama()
    trainer(model, method, tmp_path, evaluate).fit(stream)
    names = [n for n, _ in model.named_parameters()]
    first, second = seen
    for i, n in enumerate(names):
        assert torch.equal(first["anchors"][n], first["weights"][n])
        assert torch.allclose(first["fisher"][n], first["expected"][i], atol=1e-8)
        merged = fisher_merge([second["expected"][i]], [first["expected"][i].clone()], 1)[0]
        assert torch.allclose(second["fisher"][n], merged, atol=1e-8)
        assert torch.equal(second["anchors"][n], second["weights"][n])
    assert method.ewc.tasks_done == 2
    assert any(first["fisher"][n].abs().sum() > 0 for n in names)


def test_penalty_once_per_step_and_lambda_restrains_drift(tmp_path: Path) -> None:
    moved = {}
    for lam in (0.0, 1e6):
        method = build_method("ewc", {"ewc_lambda": lam})
        calls = {"none": 0, "value": 0}
        original = method.penalty

        def counting(model, original=original, calls=calls):
            out = original(model)
            calls["none" if out is None else "value"] += 1
            return out

        method.penalty = counting
        after_task0: dict[str, torch.Tensor] = {}

        def evaluate(model, task, accelerator, store=after_task0):
            if not store:
                store.update({n: p.detach().clone() for n, p in model.named_parameters()})
            return 0.0

        model = tiny_llama()
        trainer(model, method, tmp_path / str(lam), evaluate, grad_accum=2).fit(tasks())
        # 6 rows, batch 2, accumulation 2 -> 2 optimizer steps per epoch, 2 epochs per task;
        # no penalty on task 0, one per step on task 1
        assert calls == {"none": 4, "value": 4}
        moved[lam] = sum(
            float((p.detach() - after_task0[n]).pow(2).sum()) for n, p in model.named_parameters()
        )
    assert moved[1e6] < 0.5 * moved[0.0]


def test_replay_composes_with_ewc(tmp_path: Path) -> None:
    method = build_method(
        "ewc", {"ewc_lambda": 1.0, "replay": True, "replay_buffer_size": 8, "replay_seed": 5}
    )
    sizes: list[int] = []

    def counting_collate(rows):
        sizes.append(len(rows))
        return collate(rows)

    stream = tasks()
    for task in stream:
        task.collate = counting_collate
    trainer(tiny_llama(), method, tmp_path, epochs=1).fit(stream)
    # task 0: plain batches of 2 (+ Fisher pass); task 1: 2 new + 2 buffer rows per batch
    assert sizes[:3] == [2, 2, 2]
    assert sizes[6:9] == [4, 4, 4]
    assert len(method.replay.buffer) <= 8
    assert set(method.replay.buffer.class_counts().values()) == {1}  # floor(8 / 8 classes)
    labels = {r["label_idx_cil"] for r in method.replay.buffer.items}
    assert labels & set(range(4)) and labels & set(range(4, 8))
    state = method.state_dict()
    assert {"fisher", "anchors", "tasks_done", "replay"} <= set(state)
    saved = sorted(tmp_path.rglob("method.json"), key=lambda p: p.stat().st_mtime_ns)
    assert saved, "the trainer writes the method state into its checkpoints"
    assert (saved[-1].parent / "method.safetensors").is_file()  # tensors: safetensors, no pickle
    loaded = load_state(saved[-1].parent, "method")
    restored = build_method(
        "ewc", {"ewc_lambda": 1.0, "replay": True, "replay_buffer_size": 8, "replay_seed": 5}
    )
    restored.load_state_dict(loaded)
    assert restored.replay.buffer.items == method.replay.buffer.items
    fisher = method.ewc.fisher
    assert all(torch.equal(restored.ewc.fisher[n], fisher[n].cpu()) for n in fisher)
    with pytest.raises(ValueError, match="replay is off"):
        build_method("ewc").load_state_dict(state)


def test_frozen_parameters_stay_frozen_and_out_of_the_fisher(tmp_path: Path) -> None:
    model = tiny_llama()
    model.model.embed_tokens.weight.requires_grad_(False)
    frozen = model.model.embed_tokens.weight.detach().clone()
    method = build_method("ewc", {"full_finetune": False})
    trainer(model, method, tmp_path, epochs=1).fit(tasks())
    assert torch.equal(model.model.embed_tokens.weight, frozen)
    assert "model.embed_tokens.weight" not in method.ewc.fisher
    assert "lm_head.weight" in method.ewc.fisher
