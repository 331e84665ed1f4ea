"""How a replay buffer picks the examples of a class: random order or herding."""

from __future__ import annotations

from collections.abc import Sequence

import torch


def herding_select(features: torch.Tensor, k: int) -> list[int]:
    """Indices of ``k`` rows chosen by herding (iCaRL), in the order they are picked.

    Features are L2-normalised; with mean ``mu`` and ``S`` the sum of the ``j`` rows chosen so
    far, the next row is the unchosen ``f`` minimising ``||mu - (S + f) / (j + 1)||``.
    """
    if features.dim() != 2:
        raise ValueError(
            f"herding needs an (n, d) feature matrix, got shape {tuple(features.shape)}"
        )
    n = features.shape[0]
    k = min(k, n)
    if k <= 0:
        return []
    f = torch.nn.functional.normalize(features.detach().double(), dim=1)
    mu = f.mean(dim=0)
    running = torch.zeros_like(mu)
    available = torch.ones(n, dtype=torch.bool)
    chosen: list[int] = []
    for j in range(k):
        dist = torch.linalg.vector_norm(mu - (running + f) / (j + 1), dim=1)
        dist[~available] = float("inf")
        i = int(torch.argmin(dist))
        chosen.append(i)
        available[i] = False
        running += f[i]
    return chosen


def first_per_class(
    order: Sequence[int], classes: Sequence[Sequence[int]], quota: int, wanted: set[int]
) -> list[int]:
    """Walk ``order`` (a shuffled loader) and keep an example while one of its classes in
    ``wanted`` still has room (< ``quota``); a kept example counts for every class it has
    (word-level data: a sentence counts for each entity class it contains)."""
    counts = dict.fromkeys(wanted, 0)
    kept = []
    for i in order:
        mine = [c for c in classes[i] if c in counts]
        if mine and any(counts[c] < quota for c in mine):
            kept.append(i)
            for c in mine:
                counts[c] += 1
    return kept
