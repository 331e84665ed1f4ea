"""N-LoRA's defining behaviour: the L1 penalty in both forms, from task 1, on the new adapter."""

import pytest
import torch
from torch import nn

from cl_methods import TaskContext, available_methods, build_method
from cl_methods.adapters import append_new_adapters, stacked_lora_layers
from cl_methods.penalties import nlora_penalty

A = torch.tensor([[1.0, 2.0], [0.0, 1.0]])  # [r=2, d_in=2]
B = torch.tensor([[2.0, 0.0], [1.0, 1.0]])  # [d_out=2, r=2]
# A @ B = [[4, 2], [1, 1]] -> 8 ;  B @ A = [[2, 4], [1, 3]] -> 10


class _QV(nn.Module):
    """Two Linear layers named q and v; v may be narrower (like a GQA value projection)."""

    def __init__(self, d_out_v: int = 2):
        super().__init__()
        self.q = nn.Linear(2, 2)
        self.v = nn.Linear(2, d_out_v)


def test_ab_and_delta_w_on_hand_made_tensors():
    assert nlora_penalty([A], [B], "ab").item() == 8.0
    assert nlora_penalty([A], [B], "delta_w").item() == 10.0
    assert nlora_penalty([A, A], [B, B], "ab").item() == 16.0  # summed over layers


def test_gradients_of_both_forms():
    a = A.clone().requires_grad_(True)
    b = B.clone().requires_grad_(True)
    nlora_penalty([a], [b], "ab").backward()
    # d/dA sum|A B| = sign(A B) B^T (all products positive here)
    torch.testing.assert_close(a.grad, torch.ones(2, 2) @ B.T)
    torch.testing.assert_close(b.grad, A.T @ torch.ones(2, 2))
    a.grad = b.grad = None
    nlora_penalty([a], [b], "delta_w").backward()
    torch.testing.assert_close(a.grad, B.T @ torch.ones(2, 2))


def test_non_square_layer_works_in_delta_w_and_fails_clearly_in_ab():
    a = torch.tensor([[1.0, -1.0, 2.0]])  # r=1, d_in=3
    b = torch.tensor([[1.0], [-2.0]])  # d_out=2
    assert nlora_penalty([a], [b], "delta_w").item() == 12.0  # |[[1,-1,2],[-2,2,-4]]|
    with pytest.raises(ValueError, match=r"layer 0.*square.*delta_w"):
        nlora_penalty([a], [b], "ab")
    with pytest.raises(ValueError, match="mode must be one of"):
        nlora_penalty([a], [b], "l2")


def _nlora(model, **over):
    method = build_method("nlora", {"r": 2, "alpha": 2.0, "dropout": 0.0, **over})
    return method, method.prepare(model)


def test_registered_with_paper_defaults():
    assert "nlora" in available_methods()
    cfg = build_method("nlora").config
    assert (cfg.lambda_1, cfg.nlora_target, cfg.r, cfg.alpha, cfg.dropout) == (
        0.4,
        "ab",
        8,
        32.0,
        0.1,
    )


def test_penalty_applies_from_task_one_and_ignores_old_adapters():
    method, model = _nlora(_QV(), lambda_1=0.5)
    layers = stacked_lora_layers(model)
    method.on_task_start(TaskContext(index=0, name="t0"), model)
    assert method.penalty(model).item() == 0.0  # B starts at zero
    with torch.no_grad():
        for layer in layers.values():
            layer.lora_A.copy_(A)
            layer.lora_B.copy_(B)
    assert method.penalty(model).item() == 0.5 * 16.0  # task 1: already penalised
    append_new_adapters(model)
    method.on_task_start(TaskContext(index=1, name="t1", params={"lambda_1": 2.0}), model)
    with torch.no_grad():
        for layer in layers.values():
            layer.lora_A.copy_(A)
            layer.lora_B.copy_(B)
    # same new adapter, an old one on the stack: no orthogonality term, per-task lambda
    assert method.penalty(model).item() == 2.0 * 16.0
    method.on_task_start(TaskContext(index=2, name="t2", params={"lambda_1": 0.0}), model)
    assert method.penalty(model) is None


def test_ab_mode_refuses_non_square_layers_at_prepare():
    with pytest.raises(ValueError, match=r"v \(2 -> 1\).*delta_w"):
        _nlora(_QV(d_out_v=1))
    method, model = _nlora(_QV(d_out_v=1), nlora_target="delta_w")
    method.on_task_start(TaskContext(index=0, name="t0"), model)
    assert method.penalty(model).item() == 0.0


def test_gqa_llama_fails_in_ab_and_trains_in_delta_w(llama_toy):
    with pytest.raises(ValueError, match=r"self_attn\.v_proj \(32 -> 16\)"):
        build_method("nlora").prepare(llama_toy.tiny_llama(gqa=True))
    method = build_method("nlora", {"nlora_target": "delta_w"})
    model = method.prepare(llama_toy.tiny_llama(gqa=True))
    method.on_task_start(TaskContext(index=0, name="t0"), model)
    layers = stacked_lora_layers(model)
    assert sorted({n.rsplit(".", 1)[-1] for n in layers}) == ["q_proj", "v_proj"]
    with torch.no_grad():
        for layer in layers.values():
            layer.lora_B.normal_()
    method.penalty(model).backward()
    for layer in layers.values():
        assert layer.lora_A.grad.abs().sum() > 0 and layer.lora_B.grad.abs().sum() > 0


def test_only_the_current_adapter_trains(llama_toy):
    method = build_method("nlora")
    model = method.prepare(llama_toy.tiny_llama())
    for t in range(2):
        ctx = TaskContext(index=t, name=f"t{t}")
        method.on_task_start(ctx, model)
        trainable = sorted(n for n, p in model.named_parameters() if p.requires_grad)
        assert len(trainable) == 2 * 2 * 2  # 2 layers x (q_proj, v_proj) x (A, B)
        assert all(
            n.endswith(("q_proj.lora_A", "q_proj.lora_B", "v_proj.lora_A", "v_proj.lora_B"))
            for n in trainable
        )
        method.on_task_end(ctx, model)
    layer = next(iter(stacked_lora_layers(model).values()))
    assert layer.task_ranks == [8, 8] and not layer.lora_A_old.requires_grad
