"""EWC math on hand-made tensors: Fisher accumulation and estimators, merge, penalty."""

from __future__ import annotations

import pytest
import torch

from cl_methods.ewc import empirical_fisher, ewc_penalty, fisher_accumulate, fisher_merge


def test_fisher_accumulate_values() -> None:
    f = [torch.zeros(2), torch.ones(1)]
    fisher_accumulate(f, [torch.tensor([1.0, -2.0]), torch.tensor([3.0])], 0.5)
    assert f[0].tolist() == [0.5, 2.0] and f[1].tolist() == [5.5]
    fisher_accumulate(f, [None, torch.tensor([1.0])], 1.0)
    assert f[0].tolist() == [0.5, 2.0] and f[1].tolist() == [6.5]


def test_fisher_merge_formula() -> None:
    new = [torch.tensor([4.0, 0.0])]
    first = [torch.tensor([9.0, 9.0])]
    assert fisher_merge(new, first, 0) is first and first[0].tolist() == [4.0, 0.0]  # t = 0
    old = [torch.tensor([1.0, 2.0])]
    assert fisher_merge(new, old, 1)[0].tolist() == [2.5, 1.0]  # (new + 1 old) / 2, in place
    assert old[0].tolist() == [2.5, 1.0]
    old = [torch.tensor([1.0, 2.0])]
    assert torch.allclose(fisher_merge(new, old, 3)[0], torch.tensor([7 / 4, 6 / 4]))
    with pytest.raises(ValueError, match="old ones"):
        fisher_merge(new, [], 1)


def test_penalty_zero_at_anchor_and_gradient() -> None:
    anchor = torch.tensor([1.0, -1.0, 2.0])
    fisher = torch.tensor([0.5, 2.0, 0.0])
    theta = anchor.clone().requires_grad_(True)
    assert ewc_penalty([theta], [anchor], [fisher], 5000.0).item() == 0.0
    theta = torch.tensor([2.0, 0.0, 5.0], requires_grad=True)
    lam = 10.0
    pen = ewc_penalty([theta], [anchor], [fisher], lam)
    assert pen.item() == pytest.approx(lam / 2 * (0.5 * 1 + 2.0 * 1 + 0.0 * 9))
    pen.backward()
    assert torch.allclose(theta.grad, lam * fisher * (theta.detach() - anchor))


def linear_setup():
    torch.manual_seed(0)
    model = torch.nn.Linear(3, 2)
    xs = torch.randn(7, 3)
    ys = torch.randint(0, 2, (7,))
    examples = list(zip(xs, ys))

    def collate(rows):
        return torch.stack([r[0] for r in rows]), torch.stack([r[1] for r in rows])

    def loss_fn(batch):
        x, y = batch
        return torch.nn.functional.cross_entropy(model(x), y)

    return model, examples, collate, loss_fn


def test_minibatch_estimator_by_hand() -> None:
    model, examples, collate, loss_fn = linear_setup()
    params = list(model.parameters())
    got = empirical_fisher(params, examples, collate, loss_fn, batch_size=3, progress=False)
    expected = [torch.zeros_like(p) for p in params]
    for start, n in ((0, 3), (3, 3), (6, 1)):
        grads = torch.autograd.grad(loss_fn(collate(examples[start : start + n])), params)
        for e, g in zip(expected, grads):
            e += n * g**2
    for g, e in zip(got, expected):
        assert torch.allclose(g, e / 7, atol=1e-7)
    assert all(p.grad is None for p in params)


def test_estimators_agree_with_batch_size_one() -> None:
    model, examples, collate, loss_fn = linear_setup()
    params = list(model.parameters())
    a = empirical_fisher(params, examples, collate, loss_fn, batch_size=1, progress=False)
    b = empirical_fisher(
        params, examples, collate, loss_fn, estimator="per_sample", batch_size=4, progress=False
    )
    c = empirical_fisher(params, examples, collate, loss_fn, batch_size=4, progress=False)
    for x, y, z in zip(a, b, c):
        assert torch.allclose(x, y)
        assert not torch.allclose(x, z)  # minibatch-mean gradients give another estimate
    with pytest.raises(ValueError, match="estimator"):
        empirical_fisher(params, examples, collate, loss_fn, estimator="full")
