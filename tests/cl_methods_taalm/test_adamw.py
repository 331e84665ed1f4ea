"""Spec checklist item 2: the differentiable AdamW."""

from __future__ import annotations

import math

import torch

from cl_methods.taalm import AdamState, adamw_step


def _by_hand(p, gs, lr=2e-4, b1=0.9, b2=0.999, wd=0.01, eps=1e-8):
    m = v = 0.0
    out = []
    for t, g in enumerate(gs, start=1):
        p = p * (1 - lr * wd)
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        den = (math.sqrt(v + eps) + eps) / math.sqrt(1 - b2**t) + eps
        p = p - lr / (1 - b1**t) * m / den
        out.append((p, m, v))
    return out


def test_two_hand_computed_steps_with_state_carried_over():
    p0, g1, g2 = 0.7, 0.3, -1.5
    expected = _by_hand(p0, [g1, g2])
    params = {"w": torch.tensor([p0], dtype=torch.float64)}
    state = AdamState.zeros_like(params)
    params1, state1 = adamw_step(params, {"w": torch.tensor([g1], dtype=torch.float64)}, state)
    assert state1.step == 1 and state.step == 0  # out of place: the old state is untouched
    assert params["w"].item() == p0
    assert math.isclose(params1["w"].item(), expected[0][0], rel_tol=1e-12)
    params2, state2 = adamw_step(params1, {"w": torch.tensor([g2], dtype=torch.float64)}, state1)
    assert state2.step == 2
    assert math.isclose(params2["w"].item(), expected[1][0], rel_tol=1e-12)
    assert math.isclose(state2.exp_avg["w"].item(), expected[1][1], rel_tol=1e-12)
    assert math.isclose(state2.exp_avg_sq["w"].item(), expected[1][2], rel_tol=1e-12)


def test_differs_from_torch_adamw_in_where_the_bias_correction_goes():
    p = torch.tensor([0.5], dtype=torch.float64, requires_grad=True)
    opt = torch.optim.AdamW([p], lr=0.1, weight_decay=0.01, eps=1e-8)
    g = torch.tensor([1e-6], dtype=torch.float64)
    p.grad = g.clone()
    opt.step()
    ours, _ = adamw_step(
        {"p": torch.tensor([0.5], dtype=torch.float64)}, {"p": g}, AdamState(), lr=0.1
    )
    # same formula up to eps placement: visible for tiny gradients
    assert not math.isclose(ours["p"].item(), p.item(), rel_tol=1e-6)


def test_finite_second_derivatives_at_zero_gradient():
    x = torch.tensor([0.0, 0.0], dtype=torch.float64, requires_grad=True)
    p = {"w": torch.tensor([1.0, -2.0], dtype=torch.float64)}
    for state in (AdamState(), None):
        st = AdamState.zeros_like(p) if state is None else state
        if state is not None:  # a second step on a zero gradient, after a real first step
            _, st = adamw_step(p, {"w": torch.tensor([0.5, 0.1], dtype=torch.float64)}, st)
            st = st.detach()
        g = x * 1.0  # g = 0, but carries a graph
        new, _ = adamw_step(p, {"w": g}, st, lr=0.1)
        (d1,) = torch.autograd.grad(new["w"].sum(), x, create_graph=True)
        (d2,) = torch.autograd.grad((d1**2).sum(), x)
        assert torch.isfinite(d1).all() and torch.isfinite(d2).all()
        assert d1.abs().sum() > 0
