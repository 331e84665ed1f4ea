"""Linear probing (spec §4): four probes on frozen features."""

from __future__ import annotations

import torch

from cl_methods.classic import PROBES, class_means, fit_probes, probe_predict


def test_class_means_and_prototype_probe():
    feats = torch.tensor([[1.0, 0.0], [3.0, 0.0], [0.0, 2.0], [0.0, 4.0]])
    labels = torch.tensor([0, 0, 1, 1])
    means = class_means(feats, labels, 3)
    assert torch.equal(means, torch.tensor([[2.0, 0.0], [0.0, 3.0], [0.0, 0.0]]))
    probes = fit_probes(feats, labels, 3, epochs=2)
    assert torch.equal(probes["prototype"][0], means) and probes["cosine_prototype"][1]


def test_every_probe_separates_separable_features():
    g = torch.Generator().manual_seed(0)
    centres = torch.eye(4) * 5
    labels = torch.arange(4).repeat_interleave(30)
    feats = centres[labels] + 0.3 * torch.randn(120, 4, generator=g)
    probes = fit_probes(feats, labels, 4, epochs=20, lr=1e-2)
    assert set(probes) == set(PROBES)
    for name in PROBES:
        acc = (probe_predict(probes[name], feats) == labels).float().mean()
        assert acc > 0.95, name
