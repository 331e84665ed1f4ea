"""CLS-ER: which EMA copy teaches each row, the loss on hand-made tensors, the seeded update
probabilities, the fixed and the codebase's EMA pairing, and tiny end-to-end runs."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from classic_tiny import heads_model, heads_tasks, tasks, tiny_llama, trainer

from cl_methods import build_method
from cl_methods.logit_replay import choose_ema_teacher, clser_loss


def test_the_copy_giving_the_gold_class_more_probability_teaches_each_row() -> None:
    fast = torch.tensor([[3.0, 0.0, 0.0], [0.0, 0.0, 0.0], [0.0, 2.0, 0.0], [1.0, 1.0, 1.0]])
    slow = torch.tensor([[1.0, 0.0, 0.0], [0.0, 0.0, 4.0], [0.0, 5.0, 0.0], [1.0, 1.0, 1.0]])
    gold = torch.tensor([0, 2, 0, 1])
    teacher, chosen = choose_ema_teacher(fast, slow, gold)
    # row 0: fast is surer of class 0; row 1: slow of class 2; row 2: fast gives class 0 more
    # (slow puts almost everything on class 1); row 3: a tie goes to the slow copy
    assert chosen.tolist() == [True, False, True, False]
    assert torch.equal(teacher, torch.stack([fast[0], slow[1], fast[2], slow[3]]))


def test_clser_loss_on_hand_made_tensors() -> None:
    logits = torch.tensor([[1.0, 0.0, 0.0], [0.0, 2.0, 0.0], [0.5, 0.5, 0.0]])
    labels = torch.tensor([0, 1, 2])
    fast = torch.tensor([[0.0, 0.0, 1.0]])  # buffer row 2, gold class 2
    slow = torch.tensor([[0.0, 0.0, 3.0]])
    terms = clser_loss(logits, labels, logits[2:], fast, slow, labels[2:], lam=0.1)
    ce = F.cross_entropy(logits, labels).item()  # every row, new and buffer
    mse = ((0.5 - 0.0) ** 2 + (0.5 - 0.0) ** 2 + (0.0 - 3.0) ** 2) / 3  # slow is surer
    assert terms["ce"].item() == pytest.approx(ce)
    assert terms["mse"].item() == pytest.approx(mse)
    assert terms["loss"].item() == pytest.approx(ce + 0.1 * mse)
    assert terms["fast_chosen"].tolist() == [False]


def test_update_draws_are_seeded_and_have_the_configured_probabilities() -> None:
    method = build_method("clser")
    draws = [method.draws(1, step) for step in range(1, 4001)]
    assert draws == [method.draws(1, step) for step in range(1, 4001)]  # reproducible
    fast = sum(u < 0.9 for u, _ in draws) / len(draws)
    slow = sum(v < 0.7 for _, v in draws) / len(draws)
    assert abs(fast - 0.9) < 0.02 and abs(slow - 0.7) < 0.02
    assert draws != [method.draws(2, step) for step in range(1, 4001)]  # a task's own draws


def _run(tmp_path: Path, **options):
    method = build_method("clser", {"replay_buffer_size": 8, **options})
    copies = {}
    original = method.on_task_start

    def on_task_start(task, model):
        original(task, model)
        if task.index == 1:
            copies["fast0"] = {k: v.clone() for k, v in method.fast.model.state_dict().items()}

    method.on_task_start = on_task_start
    model = heads_model()
    result = trainer(model, method, tmp_path, lambda m, t, a: 0.0).fit(heads_tasks())
    return method, copies["fast0"], result


def test_clser_heads_end_to_end_updates_and_fixed_pairing(tmp_path: Path) -> None:
    method, fast0, result = _run(tmp_path)
    steps = result.train_stats[1]["steps"]
    expected = [method.draws(1, s) for s in range(1, steps + 1)]
    assert method.updates == {
        "fast": sum(u < 0.9 for u, _ in expected),
        "slow": sum(v < 0.7 for _, v in expected),
    }
    assert method.fast.updates == method.updates["fast"] > 0
    after = method.fast.model.state_dict()
    assert not torch.equal(after["heads.0.weight"], fast0["heads.0.weight"])  # heads averaged
    assert method.fast.model.current_task == 1  # its logits span the heads of tasks 0..1
    state = method.state_dict()
    assert set(state) == {"replay", "updates", "fast", "slow"}


def test_clser_codebase_pairing_never_updates_the_copies_heads(tmp_path: Path) -> None:
    method, fast0, _ = _run(tmp_path, ema_pairing="codebase")
    after = method.fast.model.state_dict()
    heads = [k for k in after if k.startswith("heads.")]
    body = [k for k in after if k.startswith("backbone.") and after[k].is_floating_point()]
    assert heads and all(torch.equal(after[k], fast0[k]) for k in heads)
    assert any(not torch.equal(after[k], fast0[k]) for k in body)


def test_clser_generative_end_to_end(tmp_path: Path) -> None:
    method = build_method("clser", {"replay_buffer_size": 8})
    used = []
    original = method.forward_loss

    def forward_loss(batch, model):
        out = original(batch, model)
        used.append(out is not None)
        return out

    method.forward_loss = forward_loss
    trainer(tiny_llama(), method, tmp_path).fit(tasks(8))
    assert used[:8] == [False] * 8 and all(used[8:])
    assert method.updates["fast"] > 0 and method.fast.model is not None


def test_clser_rejects_bad_options() -> None:
    with pytest.raises(ValueError, match="freq_fast"):
        build_method("clser", {"freq_fast": 1.5})
    with pytest.raises(ValueError, match="batch-level"):
        build_method("clser", {"replay_batch_level": False})
