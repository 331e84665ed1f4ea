"""Linear probing (spec §4): fit probes on frozen features and report test accuracy.

Four probes over the same features: ``linear`` (no bias) and ``cosine`` (cosine-linear, scale 1),
each trained with Adam (lr 1e-3, 20 epochs, chunks of about 128 rows); ``prototype`` (class
means, dot product) and ``cosine_prototype`` (class means, cosine).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

PROBES = ("linear", "cosine", "prototype", "cosine_prototype")


def class_means(features: torch.Tensor, labels: torch.Tensor, num_classes: int) -> torch.Tensor:
    """Row c = the mean feature of class c (zeros for a class without samples)."""
    sums = torch.zeros(num_classes, features.shape[1], dtype=features.dtype)
    sums.index_add_(0, labels, features)
    counts = torch.bincount(labels, minlength=num_classes).clamp(min=1).to(features.dtype)
    return sums / counts[:, None]


def _train_weights(
    features: torch.Tensor,
    labels: torch.Tensor,
    num_classes: int,
    cosine: bool,
    epochs: int,
    lr: float,
    chunk: int,
    seed: int,
) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    bound = 1.0 / features.shape[1] ** 0.5
    weight = (torch.rand(num_classes, features.shape[1], generator=gen) * 2 - 1) * bound
    weight.requires_grad_(True)
    opt = torch.optim.Adam([weight], lr=lr)
    x = F.normalize(features, dim=-1) if cosine else features
    with torch.enable_grad():
        for _ in range(epochs):
            order = torch.randperm(len(labels), generator=gen)
            for start in range(0, len(labels), chunk):
                idx = order[start : start + chunk]
                w = F.normalize(weight, dim=-1) if cosine else weight
                loss = F.cross_entropy(x[idx] @ w.T, labels[idx])
                opt.zero_grad()
                loss.backward()
                opt.step()
    return weight.detach()


def fit_probes(
    features: torch.Tensor,
    labels: torch.Tensor,
    num_classes: int,
    *,
    epochs: int = 20,
    lr: float = 1e-3,
    chunk: int = 128,
    seed: int = 1,
) -> dict[str, tuple[torch.Tensor, bool]]:
    """``{probe: (weight [C, d], cosine?)}``; logits = x @ w.T (both normalised when cosine)."""
    features, labels = features.detach().float().cpu(), labels.long().cpu()
    means = class_means(features, labels, num_classes)
    return {
        "linear": (
            _train_weights(features, labels, num_classes, False, epochs, lr, chunk, seed),
            False,
        ),
        "cosine": (
            _train_weights(features, labels, num_classes, True, epochs, lr, chunk, seed),
            True,
        ),
        "prototype": (means, False),
        "cosine_prototype": (means, True),
    }


def probe_predict(probe: tuple[torch.Tensor, bool], features: torch.Tensor) -> torch.Tensor:
    weight, cosine = probe
    x = features.detach().float().cpu()
    if cosine:
        x, weight = F.normalize(x, dim=-1), F.normalize(weight, dim=-1)
    return (x @ weight.T).argmax(dim=-1)
