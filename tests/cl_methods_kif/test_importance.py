"""Recurrent-KIF importance: sensitivities, EMAs by hand, the quantile threshold and masks."""

import math

import numpy as np
import pytest
import torch

from cl_methods.kif import importance
from cl_methods.kif.importance import (
    ImportanceState,
    importance_masks,
    quantile_threshold,
    sensitivity,
)


@pytest.mark.parametrize("n", [2, 5, 10, 97, 1000, 4099])
def test_distinct_scores_mark_the_expected_count_and_tau_matches_torch(n):
    q = 0.8
    gen = torch.Generator().manual_seed(n)
    scores = torch.randperm(n, generator=gen).float() * 0.37 + torch.rand(1, generator=gen)
    tau = quantile_threshold(scores, q)
    assert torch.allclose(tau, torch.quantile(scores, q), rtol=1e-6, atol=0)
    mask = importance_masks({"a": scores}, q)["a"]
    assert int(mask.sum()) == n - 1 - math.floor(q * (n - 1))


def test_tau_matches_torch_on_random_pools():
    gen = torch.Generator().manual_seed(0)
    for n in (3, 33, 12345):
        x = torch.rand(n, generator=gen) ** 3
        for q in (0.0, 0.25, 0.8, 0.999, 1.0):
            assert torch.allclose(quantile_threshold(x, q), torch.quantile(x, q), rtol=1e-6)


def test_beyond_two_to_the_24_elements():
    n = 2**24 + 5  # torch.quantile refuses this many elements
    x = torch.rand(n, generator=torch.Generator().manual_seed(0))
    tau = quantile_threshold(x, 0.8)
    lo = math.floor(0.8 * (n - 1))
    assert int((x <= tau).sum()) >= lo + 1 and int((x < tau).sum()) <= lo + 1
    assert 0.79 < float(tau) < 0.81


def test_fp64_position_path_with_a_lowered_limit(monkeypatch):
    monkeypatch.setattr(importance, "FP32_EXACT", 10)
    x = torch.rand(1001, generator=torch.Generator().manual_seed(1))
    for q in (0.1, 0.8, 0.95):
        want = np.quantile(x.double().numpy(), q)
        assert abs(float(quantile_threshold(x, q)) - want) < 1e-6


def test_all_zero_or_all_equal_scores_give_an_all_zero_mask():
    zero = importance_masks({"a": torch.zeros(3, 4), "b": torch.zeros(5)})
    assert not any(m.any() for m in zero.values())
    same = importance_masks({"a": torch.full((7,), 2.5)})
    assert not same["a"].any()


def test_global_scope_puts_every_marked_element_in_the_large_tensor():
    scores = {"small": torch.rand(50) * 0.1, "large": 10 + torch.rand(30), "mid": torch.rand(40)}
    masks = importance_masks(scores, 0.8, "global")
    assert int(masks["large"].sum()) == 120 - 1 - math.floor(0.8 * 119)
    assert not masks["small"].any() and not masks["mid"].any()
    local = importance_masks(scores, 0.8, "local")
    assert local["small"].any() and local["mid"].any()  # per-tensor thresholds differ


def test_sensitivity_by_hand():
    theta, grad = torch.tensor([2.0, 1.0]), torch.tensor([0.5, -3.0])
    assert sensitivity(theta, grad, "first").tolist() == [1.0, 3.0]
    assert sensitivity(theta, grad, "second").tolist() == [1.0, 9.0]
    assert sensitivity(theta, grad, "mix").tolist() == [0.5, 7.5]
    with pytest.raises(ValueError):
        sensitivity(theta, grad, "third")


def test_ema_by_hand():
    state = ImportanceState(0.85, 0.85, "first")
    state.update([("w", torch.tensor([2.0]), torch.tensor([0.5]))])  # I = 1
    assert state.ibar["w"].item() == pytest.approx(0.15)
    assert state.ubar["w"].item() == pytest.approx(0.1275)
    state.update([("w", torch.tensor([1.0]), torch.tensor([-3.0]))])  # I = 3
    assert state.ibar["w"].item() == pytest.approx(0.5775)
    assert state.ubar["w"].item() == pytest.approx(0.47175)
    assert state.scores()["w"].item() == pytest.approx(0.272435625)
    state.clear()
    assert state.empty and not state.ibar


def test_a_state_without_scores_has_all_zero_masks():
    shapes = {"a": torch.zeros(2, 3), "b": torch.zeros(4)}
    masks = ImportanceState().masks(shapes)
    assert {k: v.shape for k, v in masks.items()} == {"a": (2, 3), "b": (4,)}
    assert not any(m.any() for m in masks.values())


def test_tau_matches_torch_with_ties():
    x = torch.randint(0, 5, (1001,), generator=torch.Generator().manual_seed(3)).float()
    for q in (0.1, 0.5, 0.8, 0.9):
        assert torch.allclose(quantile_threshold(x, q), torch.quantile(x, q), rtol=1e-6)
