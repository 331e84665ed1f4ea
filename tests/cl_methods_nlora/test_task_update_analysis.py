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
    distribution,
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


def test_nuclear_norms_per_layer_and_their_distribution(tmp_path):
    """Every task's ||dW||_* in every layer, against torch's nuclear norm of the dense update."""
    method = build_method("inclora", {"r": 2, "alpha": 1.0, "dropout": 0.0})  # scale 0.5
    model = method.prepare(_QV())
    layers = stacked_lora_layers(model)
    g = torch.Generator().manual_seed(0)
    dense: dict[str, list[torch.Tensor]] = {name: [] for name in layers}
    for task in range(3):
        with torch.no_grad():
            for name, layer in layers.items():
                a = torch.randn(2, 3, generator=g) * (task + 1)
                b = torch.randn(2, 2, generator=g)
                if task == 1 and name == "v":
                    b[:, 1] = 0.0  # a rank-1 update
                layer.lora_A.copy_(a)
                layer.lora_B.copy_(b)
                dense[name].append(0.5 * b @ a)
        append_new_adapters(model)
    out = analyse_task_updates(model, ["x", "y", "z"])
    per_layer = out["nuclear_norm_per_layer"]
    assert list(per_layer) == ["q", "v"]
    for name, updates in dense.items():
        expected = [float(torch.linalg.matrix_norm(d, ord="nuc")) for d in updates]
        assert per_layer[name] == pytest.approx(expected, rel=1e-5)
    dist = out["nuclear_norm_distribution"]
    assert list(dist) == ["x", "y", "z"]
    for k, task in enumerate(["x", "y", "z"]):
        values = torch.tensor(
            [float(torch.linalg.matrix_norm(dense[n][k], ord="nuc")) for n in ("q", "v")]
        )
        assert dist[task]["count"] == 2
        assert dist[task]["mean"] == pytest.approx(float(values.mean()), rel=1e-5)
        assert dist[task]["std"] == pytest.approx(float(values.std(unbiased=False)), rel=1e-5)
        assert dist[task]["min"] == pytest.approx(float(values.min()), rel=1e-5)
        assert dist[task]["max"] == pytest.approx(float(values.max()), rel=1e-5)
        for key, q in (("q1", 0.25), ("median", 0.5), ("q3", 0.75)):
            assert dist[task][key] == pytest.approx(float(torch.quantile(values, q)), rel=1e-5)
        assert out["per_task"]["nuclear_norm"][k] == pytest.approx(dist[task]["mean"])
    # the figure gains a panel: the nuclear norms' distribution per task
    import matplotlib.image

    with_boxes = plot_task_updates(out, tmp_path / "with.png")
    without = dict(out, nuclear_norm_per_layer={})
    plain = plot_task_updates(without, tmp_path / "without.png")
    assert matplotlib.image.imread(with_boxes).shape[1] > matplotlib.image.imread(plain).shape[1]


def test_distribution_matches_torch():
    values = torch.rand(7, generator=torch.Generator().manual_seed(1), dtype=torch.float64) * 9
    dist = distribution(values.tolist())
    assert dist["count"] == 7
    assert dist["mean"] == pytest.approx(float(values.mean()))
    assert dist["std"] == pytest.approx(float(values.std(unbiased=False)))
    for key, q in (("min", 0.0), ("q1", 0.25), ("median", 0.5), ("q3", 0.75), ("max", 1.0)):
        assert dist[key] == pytest.approx(float(torch.quantile(values, q)))
    assert distribution([]) == {
        "count": 0,
        **dict.fromkeys(("mean", "std", "min", "q1", "median", "q3", "max")),
    }
