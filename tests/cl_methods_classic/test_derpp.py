"""DER++: the loss on hand-made tensors, the answer-position logits, and tiny end-to-end runs
(heads in CIL with both teachers, heads in TIL, a causal LM without heads)."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch
from classic_tiny import heads_model, heads_tasks, tasks, tiny_llama, trainer

from cl_methods import build_method
from cl_methods.logit_replay import answer_logits, derpp_loss
from cl_methods.methods.derpp import LOGITS_KEY


def _ce(row: list[float], gold: int) -> float:
    return math.log(sum(math.exp(v) for v in row)) - row[gold]


def test_derpp_loss_on_hand_made_tensors() -> None:
    logits = torch.tensor([[2.0, 0.0, 1.0], [0.0, 1.0, 0.0], [1.0, 1.0, 3.0], [0.5, 0.0, 0.0]])
    labels = torch.tensor([2, 1, 0, 1])
    # buffer rows 2 and 3; the teacher knows the first two (old) classes
    teacher = torch.tensor([[1.0, 3.0], [0.5, 2.0]])
    terms = derpp_loss(logits, labels, 2, logits[2:, :2], teacher, alpha=0.5, beta=0.5)
    ce_new = (_ce([2, 0, 1], 2) + _ce([0, 1, 0], 1)) / 2
    ce_buf = (_ce([1, 1, 3], 0) + _ce([0.5, 0, 0], 1)) / 2
    mse = ((1 - 1) ** 2 + (1 - 3) ** 2 + (0.5 - 0.5) ** 2 + (0 - 2) ** 2) / 4  # = 2.0
    assert terms["ce_new"].item() == pytest.approx(ce_new)
    assert terms["ce_buffer"].item() == pytest.approx(ce_buf)
    assert terms["mse"].item() == pytest.approx(2.0) and mse == 2.0
    assert terms["loss"].item() == pytest.approx(ce_new + 0.5 * ce_buf + 0.5 * 2.0)
    with pytest.raises(ValueError, match="differ"):
        derpp_loss(logits, labels, 2, logits[2:], teacher)


def test_answer_logits_take_the_positions_before_each_answer_token() -> None:
    logits = torch.arange(2 * 4 * 3, dtype=torch.float).reshape(2, 4, 3)
    labels = torch.tensor([[-100, -100, 5, 6], [-100, -100, -100, 7]])
    picked = answer_logits(logits, labels)
    # row 0: positions 1 and 2 predict tokens 5 and 6; row 1: position 2 predicts 7
    assert torch.equal(picked, torch.stack([logits[0, 1], logits[0, 2], logits[1, 2]]))


def _spy(method, record: list) -> None:
    original = method.forward_loss

    def forward_loss(batch, model):
        out = original(batch, model)
        record.append((batch["input_ids"].shape[0], out is not None))
        return out

    method.forward_loss = forward_loss


@pytest.mark.parametrize("teacher", ["task_start", "stored"])
def test_derpp_heads_end_to_end(tmp_path: Path, teacher: str) -> None:
    method = build_method("derpp", {"replay_buffer_size": 8, "teacher": teacher})
    calls: list = []
    _spy(method, calls)
    snapshots: list = []
    original_start = method.on_task_start

    def on_task_start(task, model):
        original_start(task, model)
        snapshots.append(method.teacher.model)

    method.on_task_start = on_task_start
    model = heads_model()
    result = trainer(model, method, tmp_path, lambda m, t, a: 0.0).fit(heads_tasks())
    assert len(result.train_stats) == 2
    # task 0: the model's own loss; task 1: every batch mixes 2 new + 2 buffer rows
    assert calls and all(size == 2 and not used for size, used in calls[:8])
    assert all(size == 4 and used for size, used in calls[8:]) and len(calls) == 16
    items = method.replay.buffer.items  # one row per class seen (M = 8 classes)
    seen = {r["label_idx_cil"] for t in heads_tasks() for r in t.train}
    assert len(items) == len(seen) and {r["label_idx_cil"] for r in items} == seen
    if teacher == "task_start":
        assert snapshots[0] is None and snapshots[1] is not None  # a copy at task 1's start
        assert not method.teacher  # dropped at the task's end
        assert all(LOGITS_KEY not in r for r in items)
    else:
        assert all(s is None for s in snapshots)
        # rows of task 0 stored 4 logits (classes seen then), rows of task 1 stored 8
        dims = sorted({(r["label_idx_cil"] < 4, r[LOGITS_KEY].shape[0]) for r in items})
        assert dims == [(False, 8), (True, 4)]


def test_derpp_task_start_teacher_distils_only_old_classes(tmp_path: Path) -> None:
    """With alpha = beta = 0 the loss is the new rows' CE: the MSE term really enters the loss
    (a different alpha changes the trained weights)."""

    def final_weights(alpha: float) -> torch.Tensor:
        method = build_method("derpp", {"replay_buffer_size": 8, "derpp_alpha": alpha})
        model = heads_model()
        trainer(model, method, tmp_path / str(alpha), epochs=1).fit(heads_tasks())
        return model.heads[0].weight.detach().clone()

    assert not torch.allclose(final_weights(0.0), final_weights(50.0))


def test_derpp_generative_end_to_end_stored(tmp_path: Path) -> None:
    method = build_method("derpp", {"replay_buffer_size": 8, "teacher": "stored"})
    calls: list = []
    _spy(method, calls)
    trainer(tiny_llama(), method, tmp_path).fit(tasks(8))
    assert any(used for _, used in calls)
    for row in method.replay.buffer.items:  # 2 answer tokens per row x the vocabulary
        assert row[LOGITS_KEY].shape == (2, 24)


def test_derpp_needs_batch_level_replay() -> None:
    with pytest.raises(ValueError, match="batch-level"):
        build_method("derpp", {"replay_batch_level": False})
    with pytest.raises(ValueError, match="teacher"):
        build_method("derpp", {"teacher": "paper"})


def test_derpp_til_ce_is_each_rows_own_head() -> None:
    """TIL: the CE terms route every row to its task's head (task-local labels); the MSE still
    compares the old-class logits. Hand-made: two heads of 2 classes, features = logits."""
    model = heads_model(il_mode="TIL")
    space = model.labels  # (4, 4): labels 0-3 task 0, 4-7 task 1
    features = torch.zeros(4, 16)
    features[:, :4] = torch.tensor(
        [[2.0, 0.0, 1.0, 0.0], [0.0, 1.0, 0.0, 0.0], [1.0, 3.0, 0.0, 0.0], [0.5, 0.0, 0.0, 2.0]]
    )
    with torch.no_grad():  # head t outputs the features' first 4 values
        for head in model.heads:
            head.weight.zero_(), head.bias.zero_()
            head.weight[:, :4] = torch.eye(4)
    labels = torch.tensor([6, 5, 0, 3])  # new rows of task 1, buffer rows of task 0
    teacher = torch.tensor([[1.0, 3.0, 0.0, 0.0], [0.5, 2.0, 0.0, 0.0]])
    student = features[2:, :4]
    terms = derpp_loss(features, labels, 2, student, teacher, ce=model.til_loss)
    ce_new = (_ce([2, 0, 1, 0], 2) + _ce([0, 1, 0, 0], 1)) / 2  # local labels 6-4, 5-4
    ce_buf = (_ce([1, 3, 0, 0], 0) + _ce([0.5, 0, 0, 2], 3)) / 2
    assert space.pre_accum == (0, 4)
    assert terms["ce_new"].item() == pytest.approx(ce_new)
    assert terms["ce_buffer"].item() == pytest.approx(ce_buf)
    # MSE: row 2 equal; row 3 differs by 2 in two of 4 dims -> (4 + 4) / 8 = 1
    assert terms["mse"].item() == pytest.approx(1.0)
    assert terms["loss"].item() == pytest.approx(ce_new + 0.5 * ce_buf + 0.5 * 1.0)


def test_derpp_heads_til_end_to_end(tmp_path: Path) -> None:
    method = build_method("derpp", {"replay_buffer_size": 8})
    calls: list = []
    _spy(method, calls)
    model = heads_model(il_mode="TIL")
    result = trainer(model, method, tmp_path, lambda m, t, a: 0.0).fit(heads_tasks())
    assert len(result.train_stats) == 2 and any(used for _, used in calls[8:])
    # CLS-ER picks its teacher by the gold class's probability over all seen classes: CIL only
    with pytest.raises(ValueError, match=r"clser: heads models are supported in CIL only"):
        build_method("clser", {"replay_buffer_size": 8}).prepare(heads_model(il_mode="TIL"))
