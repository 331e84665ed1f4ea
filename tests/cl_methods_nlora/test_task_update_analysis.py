"""The task-update analysis on hand-made updates (collision, orthogonality, subspace overlap)."""

import math

import pytest
import torch
from torch import nn

from cl_methods import build_method
from cl_methods.adapters import append_new_adapters, stacked_lora_layers
from cl_methods.analysis import (
    TaskUpdate,
    analyse_task_updates,
    pair_measures,
    plot_task_updates,
    task_measures,
)

E0 = torch.tensor([[1.0], [0.0]])
E1 = torch.tensor([[0.0], [1.0]])


def test_disjoint_updates_do_not_collide_and_are_orthogonal():
    first = TaskUpdate(torch.tensor([[1.0, 2.0, 0.0]]), E0)  # dW = [[1, 2, 0], [0, 0, 0]]
    second = TaskUpdate(torch.tensor([[0.0, 0.0, 3.0]]), E1)  # dW = [[0, 0, 0], [0, 0, 3]]
    m = pair_measures(first, second)
    assert m["collision_rate"] == 0.0 and m["collision_jaccard"] == 0.0
    assert m["frobenius_cosine"] == 0.0
    assert m["input_overlap"] == pytest.approx(0.0) and m["output_overlap"] == pytest.approx(0.0)
    assert m["a_orthogonality_l1"] == 0.0


def test_orthogonal_but_colliding_updates():
    # the N-LoRA paper's point: orthogonality does not rule out collisions
    first = TaskUpdate(torch.tensor([[1.0, 2.0, 0.0]]), E0)
    second = TaskUpdate(torch.tensor([[2.0, -1.0, 0.0]]), E0)  # [[2, -1, 0], [0, 0, 0]]
    m = pair_measures(first, second)
    assert m["collision_rate"] == pytest.approx(2 / 6)
    assert m["collision_jaccard"] == 1.0
    assert m["frobenius_cosine"] == pytest.approx(0.0)
    assert m["input_overlap"] == pytest.approx(0.0, abs=1e-6)
    assert m["output_overlap"] == pytest.approx(1.0)
    assert m["a_orthogonality_l1"] == 0.0


def test_overlap_of_partially_aligned_subspaces_and_threshold():
    # input directions at 45 degrees: overlap cos^2 = 0.5 ; identical output direction
    first = TaskUpdate(torch.tensor([[1.0, 0.0]]), E0)
    second = TaskUpdate(torch.tensor([[1.0, 1.0]]), E0)
    m = pair_measures(first, second)
    assert m["input_overlap"] == pytest.approx(0.5)
    assert m["frobenius_cosine"] == pytest.approx(1 / math.sqrt(2))
    # an entry below rel_threshold x the largest entry is not active
    small = TaskUpdate(torch.tensor([[1.0, 0.001]]), E0)
    assert pair_measures(small, second, rel_threshold=0.01)["collision_rate"] == 0.25
    assert pair_measures(small, second, rel_threshold=1e-4)["collision_rate"] == 0.5


def test_task_measures_and_scale():
    up = TaskUpdate(torch.tensor([[3.0, 0.0], [0.0, 4.0]]), torch.eye(2), scale=2.0)
    m = task_measures(up)
    assert m["density"] == 0.5
    assert m["nuclear_norm"] == pytest.approx(14.0)  # singular values 6 and 8
    assert m["frobenius_norm"] == pytest.approx(10.0)
    assert m["l1_norm"] == pytest.approx(14.0)


class _QV(nn.Module):
    def __init__(self):
        super().__init__()
        self.q = nn.Linear(3, 2)
        self.v = nn.Linear(3, 2)


def test_run_summary_over_layers_and_pairs(tmp_path):
    method = build_method("inclora", {"r": 1, "alpha": 1.0, "dropout": 0.0})
    model = method.prepare(_QV())
    layers = stacked_lora_layers(model)
    assert analyse_task_updates(model)["pairs"] == []
    updates = [([1.0, 2.0, 0.0], E0), ([0.0, 0.0, 3.0], E1), ([2.0, -1.0, 0.0], E0)]
    for a, b in updates:
        with torch.no_grad():
            for layer in layers.values():
                layer.lora_A.copy_(torch.tensor([a]))
                layer.lora_B.copy_(b)
        append_new_adapters(model)
    out = analyse_task_updates(model, ["x", "y", "z"])
    assert out["tasks"] == ["x", "y", "z"] and out["layers"] == ["q", "v"]
    assert out["pairs"] == [["x", "y"], ["x", "z"], ["y", "z"]]
    coll = out["pair_matrix"]["collision_rate"]
    assert coll[0][1] == coll[1][0] == 0.0 and coll[0][0] is None
    assert coll[0][2] == pytest.approx(2 / 6) and coll[1][2] == 0.0
    assert out["summary"]["collision_rate"] == pytest.approx((0 + 2 / 6 + 0) / 3)
    assert out["per_layer"]["q"]["collision_rate"] == pytest.approx(2 / 18)
    assert out["per_task"]["density"] == pytest.approx([2 / 6, 1 / 6, 2 / 6])
    png = plot_task_updates(out, tmp_path / "t.png")
    assert png.stat().st_size > 1000
