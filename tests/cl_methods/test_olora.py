import torch
from torch import nn

from cl_methods import TaskContext, build_method
from cl_methods.adapters import append_new_adapters, stacked_lora_layers
from cl_methods.penalties import frobenius_sum, orthogonality


class _Two(nn.Module):
    """Two Linear layers named q and v, so O-LoRA attaches to both."""

    def __init__(self):
        super().__init__()
        self.q = nn.Linear(2, 3)
        self.v = nn.Linear(2, 3)


def test_orthogonality_on_hand_made_tensors():
    a_old = [torch.tensor([[1.0, 0.0], [0.0, 2.0]])]
    a_new = [torch.tensor([[1.0, 1.0]], requires_grad=True)]
    # A_old @ A_new^T = [[1], [2]]
    assert orthogonality(a_old, a_new, "l1").item() == 3.0
    assert orthogonality(a_old, a_new, "l2sq").item() == 5.0
    orthogonality(a_old, a_new, "l1").backward()
    # d/dA_new sum |A_old A_new^T| = sign(prod)^T A_old = [1, 2]
    torch.testing.assert_close(a_new[0].grad, torch.tensor([[1.0, 2.0]]))


def test_orthogonality_is_zero_without_old_rows():
    a_old = [torch.zeros(0, 4)]
    a_new = [torch.randn(8, 4, requires_grad=True)]
    value = orthogonality(a_old, a_new)
    assert value.item() == 0.0


def test_frobenius_is_unsquared():
    a = torch.tensor([[3.0, 4.0]])
    b = torch.tensor([[0.0], [5.0], [12.0]])
    assert frobenius_sum([a, b]).item() == 5.0 + 13.0


def _olora(**over):
    method = build_method("olora", {"r": 1, "alpha": 1.0, "dropout": 0.0, **over})
    model = method.prepare(_Two())
    return method, model


def test_penalty_is_zero_on_task_one_and_exact_on_task_two():
    method, model = _olora(lambda_1=0.5, lambda_2=0.0)
    method.on_task_start(TaskContext(index=0, name="t0"), model)
    assert method.penalty(model).item() == 0.0
    layers = stacked_lora_layers(model)
    with torch.no_grad():
        layers["q"].lora_A.copy_(torch.tensor([[1.0, 0.0]]))
        layers["v"].lora_A.copy_(torch.tensor([[0.0, 1.0]]))
    append_new_adapters(model)
    method.on_task_start(TaskContext(index=1, name="t1"), model)
    with torch.no_grad():
        layers["q"].lora_A.copy_(torch.tensor([[2.0, -3.0]]))
        layers["v"].lora_A.copy_(torch.tensor([[1.0, 1.0]]))
    # q: |[1,0].[2,-3]| = 2 ; v: |[0,1].[1,1]| = 1  -> 0.5 * 3
    assert method.penalty(model).item() == 1.5


def test_l2_term_and_per_task_lambdas():
    method, model = _olora(lambda_1=0.0, lambda_2=0.1)
    layers = stacked_lora_layers(model)
    with torch.no_grad():
        for layer in layers.values():
            layer.lora_A.copy_(torch.tensor([[3.0, 4.0]]))
            layer.lora_B.zero_()
    method.on_task_start(TaskContext(index=0, name="t0"), model)
    torch.testing.assert_close(method.penalty(model), torch.tensor(0.1 * 10.0))
    method.on_task_start(TaskContext(index=0, name="t0", params={"lambda_2": 0.0}), model)
    assert method.penalty(model) is None


def test_penalty_gradient_reaches_only_the_new_a():
    method, model = _olora(lambda_1=1.0)
    layers = stacked_lora_layers(model)
    with torch.no_grad():
        for layer in layers.values():
            layer.lora_A.normal_()
    append_new_adapters(model)
    method.on_task_start(TaskContext(index=1, name="t1"), model)
    method.penalty(model).backward()
    for layer in layers.values():
        assert layer.lora_A.grad is not None and layer.lora_A.grad.abs().sum() > 0
        assert layer.lora_B.grad is None
        assert not layer.lora_A_old.requires_grad


def test_frozen_sets_per_method(toy):
    for name, expect_base in (("olora", False), ("inclora", False), ("seqlora", False)):
        method = build_method(name)
        model = method.prepare(toy.tiny_t5())
        method.on_task_start(TaskContext(index=0, name="t"), model)
        trainable = [n for n, p in model.named_parameters() if p.requires_grad]
        assert all(("lora_A" in n or "lora_B" in n) for n in trainable) != expect_base
    seqft = build_method("seqft")
    model = seqft.prepare(toy.tiny_t5())
    seqft.on_task_start(TaskContext(index=0, name="t"), model)
    assert all(p.requires_grad for p in model.parameters())


def test_seqlora_never_stacks_and_inclora_does(toy):
    for name, stacked in (("seqlora", 0), ("inclora", 2)):
        method = build_method(name)
        model = method.prepare(toy.tiny_t5())
        for t in range(2):
            ctx = TaskContext(index=t, name=f"t{t}")
            method.on_task_start(ctx, model)
            method.on_task_end(ctx, model)
        layer = next(iter(stacked_lora_layers(model).values()))
        assert len(layer.task_ranks) == stacked
